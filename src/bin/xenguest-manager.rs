//! The `xenguest-manager` command; everything lives in the library
//! ([`xenguest_mkimage::manager`]).

fn main() -> std::process::ExitCode {
    xenguest_mkimage::manager::run(std::env::args_os())
}
