//! Compiles `proto/` with protox (a protobuf compiler in Rust, so no system `protoc` is
//! needed) and generates the tonic service code, plus the encoded descriptor set that server
//! reflection serves.

use std::path::PathBuf;

use protox::prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/sluice/v1/sluice.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("sluice_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Written by hand, to carry entries encoded straight from the log (src/proto/wire.rs).
        .extern_path(
            ".sluice.v1.RangeResponse",
            "crate::proto::wire::RangeResponse",
        )
        // Written by hand, to carry the added IDs without a string for each (src/proto/add_reply.rs).
        .extern_path(
            ".sluice.v1.AddResponse",
            "crate::proto::add_reply::AddResponse",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
