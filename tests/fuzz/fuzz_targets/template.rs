//! The Go template engine, as any SealedSecret author can drive it: the input is a template, a
//! NUL, then the value of `.v`. Every rendering ends with output or an error, within the output
//! bound and soon after its deadline (a rendering that overstays is reported as a crash). The
//! time is the thread's CPU time: on a loaded machine the wall clock also counts time the
//! fuzzer was not scheduled, and a starved run would be reported for what the load did.
#![no_main]
use std::collections::BTreeMap;
use std::time::Duration;

use cpu_time::ThreadTime;

use zeroize::Zeroizing;

const DEADLINE: Duration = Duration::from_millis(500);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (text, value) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"value"[..]),
    };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let Ok(template) = gotemplate::Template::parse(gotemplate::TEMPLATE_NAME, text) else {
        return;
    };
    let values = BTreeMap::from([("v".to_owned(), Zeroizing::new(value.to_vec()))]);
    let started = ThreadTime::now();
    let outcome = template.execute_within(&values, DEADLINE);
    let took = started.elapsed();
    assert!(took < DEADLINE * 3, "rendered for {took:?} of CPU time");
    if let Ok(out) = outcome {
        assert!(out.len() <= gotemplate::MAX_OUTPUT_BYTES);
    }
});
