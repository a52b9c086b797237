//! Manifest reading (`kubeseal`'s input: YAML or JSON, one or many documents) and turning each
//! document into a Secret: an error or documents, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(docs) = crds::parse_documents(data) {
        for doc in &docs {
            let _ = crds::secret_from_document(doc);
        }
    }
});
