//! What expensive reads may spend. Patterns, histogram, facets and context
//! each take a slot for as long as they read, an export for each page it
//! reads (not while its client reads the page): a few at once per
//! process and per key, so that no caller can take the memory and cores
//! that ingest needs; beyond that, 429 with `Retry-After`. Each read also
//! gets a [`ReadBudget`]: a deadline, a cap on the distinct templates
//! patterns group and on the distinct values facets keep; a store that
//! reaches one answers what it has, marked partial with the reason.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use log_model::ReadBudget;
use svc_kit::auth::Caller;
use svc_kit::ApiError;

use crate::api::AppState;

/// The limits on expensive reads (from [`crate::QueryArgs`]).
#[derive(Debug, Clone)]
pub struct ReadLimits {
    /// Expensive reads running at once in the process.
    pub per_process: usize,
    /// Expensive reads running at once for one key (with a keys file).
    pub per_key: usize,
    /// How long one read may take before it answers what it has.
    pub time: Duration,
    /// Distinct templates a patterns request groups.
    pub max_templates: usize,
}

/// The slots in use.
#[derive(Debug)]
pub struct ReadSlots {
    limits: ReadLimits,
    used: Mutex<Used>,
}

#[derive(Debug, Default)]
struct Used {
    process: usize,
    by_key: HashMap<String, usize>,
}

impl ReadSlots {
    pub fn new(limits: ReadLimits) -> Arc<ReadSlots> {
        Arc::new(ReadSlots {
            limits,
            used: Mutex::default(),
        })
    }

    pub fn limits(&self) -> &ReadLimits {
        &self.limits
    }

    /// A slot for one read by `key` (`None`: a service without keys), or
    /// why there is none.
    pub fn take(self: &Arc<Self>, key: Option<&str>) -> Result<ReadSlot, &'static str> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = key {
            if used.by_key.get(key).copied().unwrap_or(0) >= self.limits.per_key {
                return Err("key");
            }
        }
        if used.process >= self.limits.per_process {
            return Err("process");
        }
        used.process += 1;
        if let Some(key) = key {
            *used.by_key.entry(key.to_string()).or_default() += 1;
        }
        Ok(ReadSlot {
            slots: self.clone(),
            key: key.map(str::to_string),
        })
    }
}

/// A slot held for the length of one read; given back on drop.
pub struct ReadSlot {
    slots: Arc<ReadSlots>,
    key: Option<String>,
}

impl Drop for ReadSlot {
    fn drop(&mut self) {
        let mut used = self.slots.used.lock().unwrap_or_else(|e| e.into_inner());
        used.process = used.process.saturating_sub(1);
        if let Some(key) = &self.key {
            if let Some(n) = used.by_key.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    used.by_key.remove(key);
                }
            }
        }
    }
}

/// An extractor: the slot of an expensive read and its budget. A handler
/// that takes it is refused with 429 when no slot is free.
pub struct ExpensiveRead {
    pub slot: ReadSlot,
    pub budget: ReadBudget,
}

impl FromRequest for ExpensiveRead {
    type Error = ApiError;
    type Future = Ready<Result<ExpensiveRead, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::internal("the query service is not set up")));
        };
        let key = req.extensions().get::<Caller>().map(|c| c.key_id.clone());
        let slots = &state.reads;
        ready(match slots.take(key.as_deref()) {
            Ok(slot) => Ok(ExpensiveRead {
                slot,
                budget: ReadBudget {
                    max_templates: slots.limits.max_templates,
                    deadline: Some(Instant::now() + slots.limits.time),
                    ..ReadBudget::default()
                },
            }),
            Err(which) => Err(refused(state, which)),
        })
    }
}

/// A read refused by `which` limit (`key` or `process`): counted, and
/// its 429 answer.
pub fn refused(state: &AppState, which: &'static str) -> ApiError {
    state
        .metrics
        .reads_refused
        .with_label_values(&[which])
        .inc();
    state.reads.refusal(which)
}

impl ReadSlots {
    /// The 429 answer of a read refused by `which` limit (`key` or
    /// `process`).
    fn refusal(&self, which: &str) -> ApiError {
        let detail = match which {
            "key" => format!(
                "this key has {} expensive reads (patterns, histogram, facets, export, \
                 context) running; retry when one has answered",
                self.limits.per_key
            ),
            _ => format!(
                "{} expensive reads (patterns, histogram, facets, export, context) are \
                 running; retry when one has answered",
                self.limits.per_process
            ),
        };
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_reads", detail)
        }
    }

    /// A slot for `key`, waited for until the read time budget has passed
    /// (then the limit that refused it): what each page of an export after
    /// the first takes, so that a slow reader of a stream holds no slot
    /// while its client reads.
    pub async fn wait_for(self: &Arc<Self>, key: Option<&str>) -> Result<ReadSlot, &'static str> {
        let until = Instant::now() + self.limits.time;
        loop {
            match self.take(key) {
                Ok(slot) => return Ok(slot),
                Err(which) if Instant::now() >= until => return Err(which),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

impl ReadSlot {
    /// The key the slot was taken for.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(per_process: usize, per_key: usize) -> Arc<ReadSlots> {
        ReadSlots::new(ReadLimits {
            per_process,
            per_key,
            time: Duration::from_secs(1),
            max_templates: 10,
        })
    }

    #[test]
    fn a_key_gets_its_share_and_the_process_its_cap() {
        let s = slots(3, 2);
        let a1 = s.take(Some("a")).unwrap();
        let _a2 = s.take(Some("a")).unwrap();
        assert_eq!(s.take(Some("a")).err(), Some("key"));
        let _b = s.take(Some("b")).unwrap();
        assert_eq!(s.take(Some("c")).err(), Some("process"));
        assert_eq!(s.take(None).err(), Some("process"));
        drop(a1);
        assert!(s.take(Some("a")).is_ok(), "a slot given back is free again");
    }

    #[test]
    fn slots_come_back_when_reads_end() {
        let s = slots(2, 2);
        for _ in 0..10 {
            let x = s.take(None).unwrap();
            let y = s.take(Some("k")).unwrap();
            assert!(s.take(None).is_err());
            drop((x, y));
        }
        assert!(s.used.lock().unwrap().by_key.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_page_gets_a_slot_given_back_in_time_and_none_after() {
        let s = slots(1, 1);
        let held = s.take(None).unwrap();
        let started = Instant::now();
        assert_eq!(s.wait_for(None).await.err(), Some("process"));
        assert!(started.elapsed() >= s.limits.time);
        let waiting = {
            let s = s.clone();
            tokio::spawn(async move { s.wait_for(None).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(held);
        assert_eq!(waiting.await.unwrap(), Ok(()));
    }
}
