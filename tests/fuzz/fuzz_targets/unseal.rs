//! Unsealing arbitrary ciphertext with a real key: an error (or, for a forgery, never
//! plaintext of the wrong length), never a panic. The first byte picks the label's scope.
#![no_main]
use std::sync::OnceLock;

fn key() -> &'static crds::PrivateKey {
    static KEY: OnceLock<crds::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| crds::PrivateKey::generate(2048).expect("RSA-2048 key"))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&scope, rest)) = data.split_first() else { return };
    let label: &[u8] = match scope % 3 {
        0 => b"",
        1 => b"ns",
        _ => b"ns/name",
    };
    let _ = crds::hybrid_decrypt([key()], label, rest);
    let _ = crds::unseal_bytes(std::slice::from_ref(key()), label, &String::from_utf8_lossy(rest));
});
