//! The `xenguest-mkimage` command; everything lives in the library.

fn main() -> std::process::ExitCode {
    xenguest_mkimage::run(std::env::args_os())
}
