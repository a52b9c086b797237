//! Certificates and keys: `--cert` input (PEM certificate or public key) and
//! `--recovery-private-key` input (PEM keys, key Secrets, `v1 List`s).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = crds::parse_sealing_key(data);
    let _ = crds::parse_private_keys(data);
});
