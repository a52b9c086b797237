//! The controller's long-lived tasks, awaited together: the first one that ends, fails or
//! panics is reported by name and ends the process with an error, so the kubelet restarts it
//! rather than leaving it serving with, say, frozen keys. Dropping the set aborts every task.
//!
//! For tests only, `SEALED_SECRETS_FAULT_INJECT=<task>` (or `<task>:panic`) makes the named
//! task fail (or panic) half a second after it starts.

use std::future::Future;

use tokio::task::JoinSet;

/// The environment variable of the fault injection (see the module doc).
pub const FAULT_INJECT: &str = "SEALED_SECRETS_FAULT_INJECT";

/// How a supervised task ended.
#[derive(Debug, thiserror::Error)]
pub enum TaskExit {
    /// It returned, which a long-lived task never should.
    #[error("task {0} stopped")]
    Ended(&'static str),
    /// It returned an error.
    #[error("task {0} failed: {1:#}")]
    Failed(&'static str, anyhow::Error),
    /// It panicked.
    #[error("task {0} panicked: {1}")]
    Panicked(&'static str, String),
    /// There was no task to wait for.
    #[error("no task is running")]
    Empty,
}

/// The supervised tasks.
#[derive(Default)]
pub struct Tasks {
    set: JoinSet<(&'static str, anyhow::Result<()>)>,
    names: Vec<(tokio::task::Id, &'static str)>,
}

impl Tasks {
    /// Starts `task` under `name`.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let fault = injected_fault(name, std::env::var(FAULT_INJECT).ok().as_deref());
        let handle = self.set.spawn(async move {
            let outcome = match fault {
                None => task.await,
                Some(fault) => tokio::select! {
                    r = task => r,
                    () = fault.strike() => Err(anyhow::anyhow!("injected fault")),
                },
            };
            (name, outcome)
        });
        self.names.push((handle.id(), name));
    }

    /// Starts a task that returns nothing (it is expected to run forever).
    pub fn spawn_forever<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, async move {
            task.await;
            Ok(())
        });
    }

    /// Waits for the first task to end, and says how it ended.
    pub async fn first_exit(&mut self) -> TaskExit {
        match self.set.join_next_with_id().await {
            None => TaskExit::Empty,
            Some(Ok((_, (name, Ok(()))))) => TaskExit::Ended(name),
            Some(Ok((_, (name, Err(e))))) => TaskExit::Failed(name, e),
            Some(Err(e)) => {
                let name = self.name_of(e.id());
                match e.try_into_panic() {
                    Ok(payload) => TaskExit::Panicked(name, panic_message(payload.as_ref())),
                    Err(_) => TaskExit::Ended(name),
                }
            }
        }
    }

    fn name_of(&self, id: tokio::task::Id) -> &'static str {
        self.names
            .iter()
            .find(|(i, _)| *i == id)
            .map_or("unknown", |(_, name)| name)
    }
}

/// A panic's message, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// A fault injected into a task for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Fail,
    Panic,
}

impl Fault {
    async fn strike(self) {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if self == Fault::Panic {
            panic!("injected panic");
        }
    }
}

/// The fault `setting` (the variable's value) injects into the task `name`, if any.
fn injected_fault(name: &str, setting: Option<&str>) -> Option<Fault> {
    let setting = setting?;
    let (task, how) = setting.split_once(':').unwrap_or((setting, "fail"));
    (task == name).then_some(if how == "panic" {
        Fault::Panic
    } else {
        Fault::Fail
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_task_to_panic_is_named_with_its_message() {
        let mut tasks = Tasks::default();
        tasks.spawn_forever("forever", std::future::pending());
        tasks.spawn_forever("key-watch", async { panic!("watch broke") });
        let exit = tasks.first_exit().await;
        assert_eq!(exit.to_string(), "task key-watch panicked: watch broke");
    }

    #[tokio::test]
    async fn a_task_that_returns_or_fails_is_an_exit_too() {
        let mut tasks = Tasks::default();
        tasks.spawn_forever("rotation", async {});
        assert_eq!(
            tasks.first_exit().await.to_string(),
            "task rotation stopped"
        );
        tasks.spawn("api-server", async { Err(anyhow::anyhow!("port in use")) });
        assert_eq!(
            tasks.first_exit().await.to_string(),
            "task api-server failed: port in use"
        );
        assert!(matches!(tasks.first_exit().await, TaskExit::Empty));
    }

    #[test]
    fn faults_are_injected_only_into_the_named_task() {
        assert_eq!(
            injected_fault("key-watch", Some("key-watch")),
            Some(Fault::Fail)
        );
        assert_eq!(
            injected_fault("key-watch", Some("key-watch:panic")),
            Some(Fault::Panic)
        );
        assert_eq!(injected_fault("rotation", Some("key-watch")), None);
        assert_eq!(injected_fault("rotation", None), None);
    }
}
