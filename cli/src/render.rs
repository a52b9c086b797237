//! Template rendering for `--recovery-unseal` that cannot crash `kubeseal`: a panic inside the
//! template engine (an engine bug) becomes an ordinary error, so the user gets one line and exit
//! 1, never a panic trace and exit 101.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use crds::convert::TemplateRenderer;
use zeroize::Zeroizing;

/// Wraps a renderer; a panic while rendering is reported as an error. The panic's message is
/// not repeated: it may quote the data being rendered, which here is plaintext.
#[derive(Debug, Clone, Copy, Default)]
pub struct PanicSafe<R>(pub R);

/// The panic hook is process-wide; rendering threads take turns replacing it.
static HOOK: Mutex<()> = Mutex::new(());

impl<R: TemplateRenderer> TemplateRenderer for PanicSafe<R> {
    fn render(
        &self,
        template: &str,
        values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let _turn = HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        let result = panic::catch_unwind(AssertUnwindSafe(|| self.0.render(template, values)));
        panic::set_hook(previous);
        result.unwrap_or_else(|_| {
            Err("the template engine failed on this template (an internal error)".to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Panics;
    impl TemplateRenderer for Panics {
        fn render(
            &self,
            _: &str,
            _: &BTreeMap<String, Zeroizing<Vec<u8>>>,
        ) -> Result<Zeroizing<Vec<u8>>, String> {
            panic!("boom with a value");
        }
    }

    #[test]
    fn a_panic_becomes_an_error_without_its_message() {
        let err = PanicSafe(Panics)
            .render("x", &BTreeMap::new())
            .expect_err("a panic is an error");
        assert!(err.contains("template engine failed"), "{err}");
        assert!(!err.contains("value"), "{err}");
    }

    #[test]
    fn a_working_renderer_is_unchanged() {
        let out = PanicSafe(gotemplate::GoTemplates)
            .render("a{{ \"b\" }}", &BTreeMap::new())
            .expect("renders");
        assert_eq!(out.as_slice(), b"ab");
    }
}
