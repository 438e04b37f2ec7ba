//! Compiles `proto/mon.proto` with `protox`, a pure-Rust protobuf compiler, so
//! building `mon` never needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/mon.proto");
    let descriptors = protox::compile(["mon.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
