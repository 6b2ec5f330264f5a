//! atiende's benchmarks (see BENCHMARKS.md): the data generator they share, and the commands
//! in `main.rs`.

pub mod generate;
