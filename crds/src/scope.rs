//! Sealing scopes: which names a sealed value is bound to, expressed as the RSA-OAEP label.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Annotation that makes a Secret namespace-wide (value exactly `"true"`).
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// Annotation that makes a Secret cluster-wide (value exactly `"true"`).
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// How strongly a sealed value is bound to its Secret's name and namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// Bound to namespace and name (label `"<namespace>/<name>"`). The default.
    #[default]
    Strict,
    /// Bound to the namespace only (label `"<namespace>"`): the Secret may be renamed.
    NamespaceWide,
    /// Bound to nothing (empty label): may be unsealed under any name in any namespace.
    ClusterWide,
}

/// An unknown `--scope` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope \"{0}\" (expected strict, namespace-wide or cluster-wide)")]
pub struct UnknownScope(pub String);

impl Scope {
    /// All scopes, in the order the CLI lists them.
    pub const ALL: [Scope; 3] = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }

    /// The RSA-OAEP label binding a value to this scope.
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::ClusterWide => Vec::new(),
        }
    }

    /// The scope the annotations ask for (`"true"` exactly; cluster-wide wins over namespace-wide).
    pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> Scope {
        let is_true = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .is_some_and(|v| v == "true")
        };
        if is_true(CLUSTER_WIDE_ANNOTATION) {
            Scope::ClusterWide
        } else if is_true(NAMESPACE_WIDE_ANNOTATION) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// Rewrites the scope annotations so that they say `self` (and nothing contradictory).
    pub fn apply_to_annotations(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        match self {
            Scope::Strict => {}
            Scope::NamespaceWide => {
                annotations.insert(NAMESPACE_WIDE_ANNOTATION.into(), "true".into());
            }
            Scope::ClusterWide => {
                annotations.insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_the_original() {
        assert_eq!(Scope::Strict.label("ns", "name"), b"ns/name");
        assert_eq!(Scope::NamespaceWide.label("ns", "name"), b"ns");
        assert_eq!(Scope::ClusterWide.label("ns", "name"), b"");
    }

    #[test]
    fn annotations_must_be_exactly_true() {
        let mut a = BTreeMap::new();
        a.insert(NAMESPACE_WIDE_ANNOTATION.to_owned(), "True".to_owned());
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::Strict);
        a.insert(NAMESPACE_WIDE_ANNOTATION.to_owned(), "true".to_owned());
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::NamespaceWide);
        a.insert(CLUSTER_WIDE_ANNOTATION.to_owned(), "true".to_owned());
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::ClusterWide);
    }

    #[test]
    fn apply_replaces_previous_scope() {
        let mut a = BTreeMap::new();
        Scope::ClusterWide.apply_to_annotations(&mut a);
        Scope::NamespaceWide.apply_to_annotations(&mut a);
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::NamespaceWide);
        assert_eq!(a.len(), 1);
        Scope::Strict.apply_to_annotations(&mut a);
        assert!(a.is_empty());
    }

    #[test]
    fn parses_cli_names() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
        }
        assert!("wide".parse::<Scope>().is_err());
    }
}
