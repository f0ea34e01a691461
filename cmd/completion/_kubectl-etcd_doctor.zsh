#compdef kubectl-etcd_doctor
# zsh completion for kubectl-etcd_doctor. The binary computes the candidates:
#   kubectl-etcd_doctor __complete <words before the cursor> <word under it>
# Put it in a directory of $fpath as _kubectl-etcd_doctor, or source it after compinit.
_kubectl-etcd_doctor() {
    local -a comps opts
    local out line name desc directive=0
    out=$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    for line in "${(@f)out}"; do
        [[ -z $line ]] && continue
        if [[ $line == :<-> ]]; then
            directive=${line#:}
            continue
        fi
        name=${line%%$'\t'*}
        desc=
        [[ $line == *$'\t'* ]] && desc=${line#*$'\t'}
        # _describe splits "name:description" at the first unescaped colon.
        comps+=("${name//:/\\:}${desc:+:$desc}")
    done
    (( directive & 1 )) && return 1
    if (( ${#comps} )); then
        (( directive & 2 )) && opts=(-S '')
        _describe -t values 'etcd-doctor' comps "${opts[@]}"
    elif (( directive & 16 )); then
        _path_files -/
    elif (( ! (directive & 4) )); then
        _files
    fi
}
if [[ $funcstack[1] == _kubectl-etcd_doctor ]]; then
    _kubectl-etcd_doctor "$@"
else
    compdef _kubectl-etcd_doctor kubectl-etcd_doctor
fi
