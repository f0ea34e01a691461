# bash completion for kubectl-etcd_doctor. The binary computes the candidates:
#   kubectl-etcd_doctor __completeNoDesc <words before the cursor> <word under it>
# (`kubectl etcd-doctor <TAB>` goes through kubectl's own completion, which runs
# kubectl_complete-etcd_doctor; see the README.)
_kubectl_etcd_doctor() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local -a words=() comps=()
    local i w glue=0
    # bash splits `--output=json` and `https://host:2379` at = and :; join them back.
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if ((${#words[@]} > 0)) && [[ $w == "=" || $w == ":" ]]; then
            words[${#words[@]} - 1]+=$w
            glue=1
        elif ((glue)); then
            words[${#words[@]} - 1]+=$w
            glue=0
        else
            words+=("$w")
        fi
    done
    ((${#words[@]} > 0)) || words=("")

    local out line directive=0
    out=$("${COMP_WORDS[0]}" __completeNoDesc "${words[@]}" 2>/dev/null) || return 0
    while IFS= read -r line; do
        [[ -z $line ]] && continue
        if [[ $line == :[0-9]* ]]; then
            directive=${line#:}
        else
            comps+=("$line")
        fi
    done <<<"$out"
    ((directive & 1)) && return 0

    # Readline replaces only the text after the last = or : of the word; drop what is before.
    local merged=${words[${#words[@]} - 1]} prefix=
    [[ $merged != "$cur" ]] && prefix=${merged%"${merged##*[=:]}"}
    local tail=${merged#"$prefix"}

    COMPREPLY=()
    for w in "${comps[@]}"; do
        COMPREPLY+=("${w#"$prefix"}")
    done
    if ((${#COMPREPLY[@]} == 0)); then
        if ((directive & 16)); then
            compopt -o filenames 2>/dev/null
            while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -d -- "$tail")
        elif ((!(directive & 4))); then
            compopt -o filenames 2>/dev/null
            while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -f -- "$tail")
        fi
    fi
    ((directive & 2)) && compopt -o nospace 2>/dev/null
    return 0
}
complete -F _kubectl_etcd_doctor kubectl-etcd_doctor
