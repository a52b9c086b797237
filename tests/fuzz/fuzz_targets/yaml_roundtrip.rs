//! The Go-shaped YAML emitter (`kubeseal -o yaml`) round-trips: any string as a value and as a
//! key reads back unchanged with the project's reader.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let value = serde_json::json!({
        "value": text,
        "list": [text, "x"],
        "nested": { "k": text },
    });
    let mut with_key = serde_json::Map::new();
    with_key.insert(text.clone(), serde_json::Value::String("v".to_owned()));
    for v in [value, serde_json::Value::Object(with_key)] {
        let yaml = crds::yaml::to_string(&v);
        let docs = crds::parse_documents(yaml.as_bytes())
            .unwrap_or_else(|e| panic!("emitted YAML does not read back ({e}):\n{yaml}"));
        assert_eq!(docs.len(), 1, "{yaml}");
        assert_eq!(docs[0].value, v, "emitted:\n{yaml}");
    }
});
