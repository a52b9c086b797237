//! Events as core `v1` Events, the API upstream's Helm chart grants (`create`, and `patch` for a
//! repeated one), as client-go's recorder writes them: a repeated failure (same object, type,
//! reason and message) within [`REPEAT_WINDOW`] bumps `count` and `lastTimestamp` of its Event
//! instead of making a new one.
//!
//! Success Events are one-offs: they are created and not remembered, so that the repeat cache
//! holds only failing SealedSecrets (a few hundred bytes each), and at most [`MAX_REMEMBERED`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crds::SealedSecret;
use k8s_openapi::api::core::v1::{Event, EventSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::requests;

/// The `source.component` and `reportingComponent` of every Event (upstream's).
pub const COMPONENT: &str = "sealed-secrets";
/// How long a repeated Event is patched rather than created anew.
const REPEAT_WINDOW: Duration = Duration::from_secs(600);
/// The most repeatable Events remembered; past it the oldest are forgotten.
const MAX_REMEMBERED: usize = 4096;

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Success.
    Normal,
    /// Failure.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// An Event sent before, to be patched when it repeats.
#[derive(Debug)]
struct Sent {
    namespace: String,
    name: String,
    count: i32,
    last: Instant,
}

/// Writes the controller's Events.
pub struct Recorder {
    client: Client,
    instance: String,
    sent: Mutex<HashMap<u64, Sent>>,
}

impl Recorder {
    /// A recorder reporting as `instance` (the Pod).
    pub fn new(client: Client, instance: String) -> Self {
        Self {
            client,
            instance,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Records an Event about `sealed`: a Warning that repeats one sent within the window is
    /// patched (count + 1); anything else is created.
    pub async fn publish(
        &self,
        sealed: &SealedSecret,
        type_: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        if type_ == EventType::Normal {
            return self.create(sealed, type_, reason, message).await.map(drop);
        }
        let key = repeat_key(sealed, reason, message);
        if let Some((namespace, name, count)) = self.repeat_of(key) {
            match self.bump(&namespace, &name, count, message).await {
                Ok(()) => return Ok(()),
                // Gone (the API server's event TTL): a new one below.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let (namespace, name) = self.create(sealed, type_, reason, message).await?;
        self.remember(key, namespace, name);
        Ok(())
    }

    /// The Event to patch for a repeat (namespace, name, new count), counting it.
    fn repeat_of(&self, key: u64) -> Option<(String, String, i32)> {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let entry = sent.get_mut(&key)?;
        if entry.last.elapsed() > REPEAT_WINDOW {
            sent.remove(&key);
            return None;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = Instant::now();
        Some((entry.namespace.clone(), entry.name.clone(), entry.count))
    }

    fn remember(&self, key: u64, namespace: String, name: String) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() >= MAX_REMEMBERED {
            sent.retain(|_, s| s.last.elapsed() <= REPEAT_WINDOW);
            if sent.len() >= MAX_REMEMBERED {
                // All recent: forget them (a repeat then makes a new Event, nothing worse).
                sent.clear();
            }
        }
        sent.insert(
            key,
            Sent {
                namespace,
                name,
                count: 1,
                last: Instant::now(),
            },
        );
    }

    async fn create(
        &self,
        sealed: &SealedSecret,
        type_: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(String, String), kube::Error> {
        let namespace = sealed.namespace().unwrap_or_default();
        let now = k8s_openapi::jiff::Timestamp::now();
        // As client-go names events: <object>.<nanoseconds in hex>.
        let name = format!("{}.{:x}", sealed.name_any(), now.as_nanosecond());
        let event = Event {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: sealed.object_ref(&()),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(type_.as_str().to_owned()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            source: Some(EventSource {
                component: Some(COMPONENT.to_owned()),
                host: None,
            }),
            reporting_component: Some(COMPONENT.to_owned()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        requests::create(
            &self.client,
            api.resource_url(),
            &PostParams::default(),
            &event,
        )
        .await?;
        Ok((namespace, name))
    }

    async fn bump(
        &self,
        namespace: &str,
        name: &str,
        count: i32,
        message: &str,
    ) -> Result<(), kube::Error> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let patch = json!({"count": count, "lastTimestamp": now, "message": message});
        requests::patch(
            &self.client,
            api.resource_url(),
            name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(drop)
    }
}

/// What makes two Events the same: the object (by uid too), reason and message.
fn repeat_key(sealed: &SealedSecret, reason: &str, message: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    sealed.metadata.namespace.hash(&mut hasher);
    sealed.metadata.name.hash(&mut hasher);
    sealed.metadata.uid.hash(&mut hasher);
    reason.hash(&mut hasher);
    message.hash(&mut hasher);
    hasher.finish()
}
