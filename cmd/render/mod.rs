//! One renderer per output format over one serde `Report` (etcdctl keeps one printer per `-w`).

pub mod columns;
pub mod json;
pub mod junit;
pub mod table;
pub mod yaml;
