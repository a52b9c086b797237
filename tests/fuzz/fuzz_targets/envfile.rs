//! The env-file parser of ccloud-keys (`--from-env-file`). ccloud-keys is a binary only, so its
//! `input` module is compiled in here by path (with a stand-in for the one type it borrows from
//! `kinds`); no source change in ccloud-keys.
#![no_main]
#![allow(dead_code)]
use libfuzzer_sys::fuzz_target;

mod kinds {
    pub type SecretText = zeroize::Zeroizing<String>;
}

#[path = "../../../ccloud-keys/src/input.rs"]
mod input;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = input::parse_env_file(std::path::Path::new("fuzz.env"), data) {
        assert!(!entries.is_empty());
        for e in &entries {
            assert!(!e.key.is_empty() && !e.key.contains('='));
        }
    }
});
