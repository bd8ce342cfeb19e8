//! Self-hosted capacity: which models can take another request right now.
//!
//! "Base load on our own hardware, peak load to the market": a self-hosted
//! model has a finite capacity, stated as a token rate (a token bucket) and/or
//! a number of requests it serves at once. The router asks which models could
//! admit a request ([`CapacityTracker::available`]), chooses among those, and
//! then claims the capacity with [`CapacityTracker::try_acquire`], an atomic
//! check-and-take: when two threads race for the last capacity, exactly one
//! wins and the other spills to the next-best (public) model.
//!
//! Time is an argument (`now_s`, seconds on any monotonic clock), never read
//! here, so every result is a pure function of the calls made and their
//! order: tests drive a fake clock and the kernel stays free of I/O.
//!
//! The token bucket of a model holds at most `burst_tokens` and refills at
//! `tokens_per_s`. A request of `t` tokens is admitted when the bucket holds
//! at least `min(t, burst_tokens)`; it then takes `t`, so a request larger
//! than the burst is admitted only into a full bucket and leaves it in debt
//! (a negative level) that the refill repays. Large requests are thus delayed,
//! never starved. A model with a concurrency limit admits a request while
//! fewer than `max_concurrent` are in flight; every successful acquire must be
//! matched by one [`CapacityTracker::release`].
//!
//! Clocks read on different threads can arrive slightly out of order, so a
//! `now_s` earlier than the last one seen by a model refills nothing and does
//! not move that model's clock back.

use std::sync::{Mutex, MutexGuard};

use crate::error::CoreError;
use crate::select::MatrixView;

/// A token bucket: the sustained rate and the largest burst a model absorbs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    /// Refill rate, tokens per second (> 0, finite).
    pub tokens_per_s: f64,
    /// Bucket size, tokens (> 0, finite); the bucket starts full.
    pub burst_tokens: f64,
}

/// The capacity of one model. Both limits `None`: unlimited (a public API).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Capacity {
    pub token_bucket: Option<TokenBucket>,
    /// Requests in flight at once (>= 1).
    pub max_concurrent: Option<u32>,
}

impl Capacity {
    /// No limit at all: the model is available unless marked down.
    pub const UNLIMITED: Capacity = Capacity {
        token_bucket: None,
        max_concurrent: None,
    };
}

/// The mutable part of one model's capacity.
#[derive(Debug, Clone, Copy)]
struct ModelState {
    /// Bucket level at `updated_s` (may be negative: debt from a large request).
    tokens: f64,
    /// Latest `now_s` seen; `None` before the first call (the bucket is full).
    updated_s: Option<f64>,
    in_flight: u32,
    down: bool,
}

/// Utilisation of every model at one instant, as parallel columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CapacitySnapshot {
    /// Bucket level after refilling to `now_s` (`+inf` without a bucket).
    pub tokens: Vec<f64>,
    /// Requests acquired and not yet released.
    pub in_flight: Vec<i64>,
    /// Marked down (excluded until marked up).
    pub down: Vec<bool>,
}

/// Thread-safe utilisation of a fixed list of models (model `j` is column `j`
/// of the router's matrices).
#[derive(Debug)]
pub struct CapacityTracker {
    limits: Vec<Capacity>,
    // One lock over every model's state, because `try_acquire` must check and
    // take capacity atomically (two threads must not both take the last
    // slot), and `try_acquire_many` must do so for a whole batch in order.
    // Every critical section is O(1) per model and never blocks, so a single
    // lock costs less than per-model locks would for the O(m) `available`.
    state: Mutex<Vec<ModelState>>,
}

fn check_time(now_s: f64) -> Result<(), CoreError> {
    if now_s.is_finite() {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "now_s",
            format!("got {now_s}; pass a finite time in seconds from a monotonic clock"),
        ))
    }
}

fn check_tokens(argument: &'static str, tokens: f64) -> Result<(), CoreError> {
    if tokens.is_finite() && tokens >= 0.0 {
        Ok(())
    } else {
        Err(CoreError::invalid(
            argument,
            format!("got {tokens}; a request's tokens must be finite and >= 0"),
        ))
    }
}

impl ModelState {
    /// The bucket level at `now_s`, without storing it.
    fn level(&self, limit: &Capacity, now_s: f64) -> f64 {
        match limit.token_bucket {
            None => f64::INFINITY,
            Some(bucket) => match self.updated_s {
                None => bucket.burst_tokens,
                Some(then) => {
                    let elapsed = (now_s - then).max(0.0);
                    (self.tokens + elapsed * bucket.tokens_per_s).min(bucket.burst_tokens)
                }
            },
        }
    }

    /// Refills the bucket up to `now_s` and stores the result.
    fn advance(&mut self, limit: &Capacity, now_s: f64) {
        if limit.token_bucket.is_some() {
            self.tokens = self.level(limit, now_s);
            self.updated_s = Some(self.updated_s.map_or(now_s, |then| then.max(now_s)));
        }
    }

    /// Could a request of `tokens` be admitted at `now_s`?
    fn admits(&self, limit: &Capacity, tokens: f64, now_s: f64) -> bool {
        if self.down {
            return false;
        }
        if let Some(max) = limit.max_concurrent {
            if self.in_flight >= max {
                return false;
            }
        }
        match limit.token_bucket {
            None => true,
            Some(bucket) => self.level(limit, now_s) >= tokens.min(bucket.burst_tokens),
        }
    }
}

impl CapacityTracker {
    /// A tracker for `limits.len()` models, every bucket full, nothing in
    /// flight, every model up.
    pub fn new(limits: Vec<Capacity>) -> Result<Self, CoreError> {
        if limits.is_empty() {
            return Err(CoreError::invalid(
                "capacities",
                "is empty; give one capacity per model (unlimited for public APIs)",
            ));
        }
        for (j, limit) in limits.iter().enumerate() {
            if let Some(bucket) = limit.token_bucket {
                for (name, value) in [
                    ("tokens_per_s", bucket.tokens_per_s),
                    ("burst_tokens", bucket.burst_tokens),
                ] {
                    if !(value.is_finite() && value > 0.0) {
                        return Err(CoreError::invalid(
                            "capacities",
                            format!(
                                "model {j}: {name} = {value}; it must be finite and > 0 \
                                 (leave the token bucket out for no token limit)"
                            ),
                        ));
                    }
                }
            }
            if limit.max_concurrent == Some(0) {
                return Err(CoreError::invalid(
                    "capacities",
                    format!(
                        "model {j}: max_concurrent = 0 would never admit a request; \
                         use >= 1, no limit, or mark the model down"
                    ),
                ));
            }
        }
        let state = limits
            .iter()
            .map(|limit| ModelState {
                tokens: limit.token_bucket.map_or(f64::INFINITY, |b| b.burst_tokens),
                updated_s: None,
                in_flight: 0,
                down: false,
            })
            .collect();
        Ok(Self {
            limits,
            state: Mutex::new(state),
        })
    }

    /// Number of models tracked.
    pub fn len(&self) -> usize {
        self.limits.len()
    }

    /// Always false: a tracker has at least one model.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The capacities the tracker was built with.
    pub fn limits(&self) -> &[Capacity] {
        &self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ModelState>> {
        // No code panics while holding the lock, and every update leaves the
        // state consistent, so a poisoned lock (a panic elsewhere on a thread
        // that held it) still guards valid state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_model(&self, model: usize) -> Result<(), CoreError> {
        if model < self.len() {
            Ok(())
        } else {
            Err(CoreError::invalid(
                "model",
                format!(
                    "index {model} is out of range; the tracker has {} models (0..{})",
                    self.len(),
                    self.len()
                ),
            ))
        }
    }

    /// Which models could admit a request right now: `tokens` is a
    /// `[n_requests, n_models]` matrix of each request's tokens on each model,
    /// and the result is the row-major `[n_requests, n_models]` mask. Each
    /// cell is judged alone (it reads the state, it takes nothing), so a batch
    /// must still claim capacity with [`Self::try_acquire_many`].
    pub fn available(
        &self,
        tokens: MatrixView<'_, f64>,
        now_s: f64,
    ) -> Result<Vec<bool>, CoreError> {
        check_time(now_s)?;
        if tokens.cols() != self.len() {
            return Err(CoreError::invalid(
                "tokens",
                format!(
                    "has {} columns but the tracker has {} models; pass [n_requests, n_models]",
                    tokens.cols(),
                    self.len()
                ),
            ));
        }
        for r in 0..tokens.rows() {
            for (j, &t) in tokens.row(r).iter().enumerate() {
                check_tokens("tokens", t).map_err(|_| {
                    CoreError::invalid(
                        "tokens",
                        format!("tokens[{r}, {j}] = {t}; token counts must be finite and >= 0"),
                    )
                })?;
            }
        }
        let state = self.lock();
        let mut mask = Vec::with_capacity(tokens.rows() * tokens.cols());
        for r in 0..tokens.rows() {
            for (j, &t) in tokens.row(r).iter().enumerate() {
                mask.push(state[j].admits(&self.limits[j], t, now_s));
            }
        }
        Ok(mask)
    }

    /// Claims capacity for one request of `tokens` on `model`, atomically:
    /// true (and the tokens and a slot are taken) if the model admits it,
    /// false (and nothing changes) otherwise. A true must be followed by one
    /// [`Self::release`] when the request ends.
    pub fn try_acquire(&self, model: usize, tokens: f64, now_s: f64) -> Result<bool, CoreError> {
        self.check_model(model)?;
        check_tokens("tokens", tokens)?;
        check_time(now_s)?;
        let mut state = self.lock();
        Ok(Self::take(
            &mut state[model],
            &self.limits[model],
            tokens,
            now_s,
        ))
    }

    fn take(state: &mut ModelState, limit: &Capacity, tokens: f64, now_s: f64) -> bool {
        state.advance(limit, now_s);
        if !state.admits(limit, tokens, now_s) {
            return false;
        }
        if limit.token_bucket.is_some() {
            state.tokens -= tokens;
        }
        state.in_flight += 1;
        true
    }

    /// [`Self::try_acquire`] for a batch, in order, under one lock: request
    /// `i` asks `models[i]` for `tokens[i]`; a negative index (no model
    /// chosen) is skipped and reported false. Validates everything first, so
    /// a bad argument takes nothing.
    pub fn try_acquire_many(
        &self,
        models: &[i64],
        tokens: &[f64],
        now_s: f64,
    ) -> Result<Vec<bool>, CoreError> {
        check_time(now_s)?;
        if models.len() != tokens.len() {
            return Err(CoreError::invalid(
                "tokens",
                format!(
                    "has {} values but models has {}; give one token count per request",
                    tokens.len(),
                    models.len()
                ),
            ));
        }
        for (i, (&model, &t)) in models.iter().zip(tokens).enumerate() {
            if model >= self.len() as i64 {
                return Err(CoreError::invalid(
                    "models",
                    format!(
                        "models[{i}] = {model} is out of range; the tracker has {} models",
                        self.len()
                    ),
                ));
            }
            if model >= 0 {
                check_tokens("tokens", t).map_err(|_| {
                    CoreError::invalid(
                        "tokens",
                        format!("tokens[{i}] = {t}; token counts must be finite and >= 0"),
                    )
                })?;
            }
        }
        let mut state = self.lock();
        Ok(models
            .iter()
            .zip(tokens)
            .map(|(&model, &t)| {
                model >= 0 && {
                    let j = model as usize;
                    Self::take(&mut state[j], &self.limits[j], t, now_s)
                }
            })
            .collect())
    }

    /// Ends a request on `model`: frees its concurrency slot and returns
    /// `unused_tokens` to the bucket (negative if the request used more than it
    /// acquired; the level stays at most the burst). Errors if nothing is in
    /// flight on `model`, which means an unmatched release.
    pub fn release(&self, model: usize, unused_tokens: f64) -> Result<(), CoreError> {
        self.check_model(model)?;
        if !unused_tokens.is_finite() {
            return Err(CoreError::invalid(
                "unused_tokens",
                format!("got {unused_tokens}; it must be finite"),
            ));
        }
        let mut state = self.lock();
        let model_state = &mut state[model];
        if model_state.in_flight == 0 {
            return Err(CoreError::invalid(
                "model",
                format!(
                    "release of model {model} with no request in flight; release once per \
                     successful try_acquire"
                ),
            ));
        }
        model_state.in_flight -= 1;
        if let Some(bucket) = self.limits[model].token_bucket {
            model_state.tokens = (model_state.tokens + unused_tokens).min(bucket.burst_tokens);
        }
        Ok(())
    }

    /// Marks `model` down (excluded from [`Self::available`] and refused by
    /// [`Self::try_acquire`] until marked up) or up again. Requests in flight
    /// are unaffected and are still released normally.
    pub fn set_down(&self, model: usize, down: bool) -> Result<(), CoreError> {
        self.check_model(model)?;
        self.lock()[model].down = down;
        Ok(())
    }

    /// Every model's bucket level, requests in flight and down flag at `now_s`.
    pub fn snapshot(&self, now_s: f64) -> Result<CapacitySnapshot, CoreError> {
        check_time(now_s)?;
        let state = self.lock();
        Ok(CapacitySnapshot {
            tokens: state
                .iter()
                .zip(&self.limits)
                .map(|(s, limit)| s.level(limit, now_s))
                .collect(),
            in_flight: state.iter().map(|s| i64::from(s.in_flight)).collect(),
            down: state.iter().map(|s| s.down).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn bucket(tokens_per_s: f64, burst_tokens: f64) -> Capacity {
        Capacity {
            token_bucket: Some(TokenBucket {
                tokens_per_s,
                burst_tokens,
            }),
            max_concurrent: None,
        }
    }

    fn slots(max: u32) -> Capacity {
        Capacity {
            token_bucket: None,
            max_concurrent: Some(max),
        }
    }

    fn mask(tracker: &CapacityTracker, tokens: &[f64], now_s: f64) -> Vec<bool> {
        let view = MatrixView::new("tokens", tokens, 1, tokens.len()).unwrap();
        tracker.available(view, now_s).unwrap()
    }

    #[test]
    fn bucket_drains_and_refills_at_its_rate() {
        let t = CapacityTracker::new(vec![bucket(100.0, 1000.0)]).unwrap();
        assert!(t.try_acquire(0, 600.0, 0.0).unwrap());
        assert!(!t.try_acquire(0, 600.0, 0.0).unwrap()); // 400 left
        assert!(!t.try_acquire(0, 600.0, 1.9).unwrap()); // 590
        assert!(t.try_acquire(0, 600.0, 2.0).unwrap()); // 600
        let snap = t.snapshot(2.0).unwrap();
        assert_eq!(snap.tokens, vec![0.0]);
        assert_eq!(snap.in_flight, vec![2]);
        // Refill stops at the burst.
        assert_eq!(t.snapshot(1e6).unwrap().tokens, vec![1000.0]);
    }

    #[test]
    fn a_request_larger_than_the_burst_waits_for_a_full_bucket_and_leaves_debt() {
        let t = CapacityTracker::new(vec![bucket(100.0, 1000.0)]).unwrap();
        assert!(t.try_acquire(0, 1.0, 0.0).unwrap());
        assert!(!t.try_acquire(0, 5000.0, 0.0).unwrap()); // 999 < min(5000, 1000)
        assert!(t.try_acquire(0, 5000.0, 0.01).unwrap()); // full again
        assert_eq!(t.snapshot(0.01).unwrap().tokens, vec![-4000.0]);
        assert_eq!(mask(&t, &[1.0], 40.0), vec![false]); // still in debt (-1 < 1)
        assert_eq!(mask(&t, &[1.0], 40.5), vec![true]);
    }

    #[test]
    fn concurrency_slots_are_taken_and_released() {
        let t = CapacityTracker::new(vec![slots(2), Capacity::UNLIMITED]).unwrap();
        assert!(t.try_acquire(0, 10.0, 0.0).unwrap());
        assert!(t.try_acquire(0, 10.0, 0.0).unwrap());
        assert!(!t.try_acquire(0, 10.0, 0.0).unwrap());
        assert_eq!(mask(&t, &[1.0, 1.0], 0.0), vec![false, true]);
        t.release(0, 0.0).unwrap();
        assert_eq!(mask(&t, &[1.0, 1.0], 0.0), vec![true, true]);
        assert!(t.try_acquire(0, 10.0, 0.0).unwrap());
    }

    #[test]
    fn both_limits_must_hold() {
        let limit = Capacity {
            token_bucket: Some(TokenBucket {
                tokens_per_s: 10.0,
                burst_tokens: 100.0,
            }),
            max_concurrent: Some(1),
        };
        let t = CapacityTracker::new(vec![limit]).unwrap();
        assert!(t.try_acquire(0, 10.0, 0.0).unwrap());
        assert!(!t.try_acquire(0, 10.0, 0.0).unwrap()); // tokens left, no slot
        t.release(0, 0.0).unwrap();
        assert!(!t.try_acquire(0, 95.0, 0.0).unwrap()); // slot free, 90 tokens
        assert!(t.try_acquire(0, 95.0, 0.5).unwrap());
    }

    #[test]
    fn release_returns_unused_tokens_up_to_the_burst() {
        let t = CapacityTracker::new(vec![bucket(1.0, 100.0)]).unwrap();
        assert!(t.try_acquire(0, 80.0, 0.0).unwrap());
        t.release(0, 30.0).unwrap(); // used 50 of the 80 it asked for
        assert_eq!(t.snapshot(0.0).unwrap().tokens, vec![50.0]);
        assert!(t.try_acquire(0, 10.0, 0.0).unwrap());
        t.release(0, 1000.0).unwrap();
        assert_eq!(t.snapshot(0.0).unwrap().tokens, vec![100.0]);
        assert!(t.try_acquire(0, 10.0, 0.0).unwrap());
        t.release(0, -50.0).unwrap(); // used 60, asked for 10
        assert_eq!(t.snapshot(0.0).unwrap().tokens, vec![40.0]);
    }

    #[test]
    fn an_unmatched_release_is_an_error() {
        let t = CapacityTracker::new(vec![slots(1)]).unwrap();
        let err = t.release(0, 0.0).unwrap_err();
        assert!(err.to_string().contains("no request in flight"), "{err}");
    }

    #[test]
    fn down_models_are_excluded_until_marked_up() {
        let t = CapacityTracker::new(vec![Capacity::UNLIMITED, bucket(1.0, 10.0)]).unwrap();
        t.set_down(0, true).unwrap();
        assert_eq!(mask(&t, &[1.0, 1.0], 0.0), vec![false, true]);
        assert!(!t.try_acquire(0, 1.0, 0.0).unwrap());
        t.set_down(0, false).unwrap();
        assert!(t.try_acquire(0, 1.0, 0.0).unwrap());
        assert_eq!(t.snapshot(0.0).unwrap().down, vec![false, false]);
    }

    #[test]
    fn time_going_backwards_refills_nothing() {
        let t = CapacityTracker::new(vec![bucket(10.0, 100.0)]).unwrap();
        assert!(t.try_acquire(0, 100.0, 10.0).unwrap());
        assert!(!t.try_acquire(0, 10.0, 9.0).unwrap()); // earlier: no refill
        assert_eq!(t.snapshot(9.0).unwrap().tokens, vec![0.0]);
        assert!(t.try_acquire(0, 10.0, 11.0).unwrap()); // one second after 10.0
        assert_eq!(t.snapshot(11.0).unwrap().tokens, vec![0.0]);
    }

    #[test]
    fn available_is_per_cell_and_takes_nothing() {
        let t = CapacityTracker::new(vec![bucket(1.0, 100.0), slots(1)]).unwrap();
        let tokens = [50.0, 1.0, 150.0, 1.0, 101.0, 1.0];
        let view = MatrixView::new("tokens", &tokens, 3, 2).unwrap();
        // 150 > burst: admitted by a full bucket. 101 likewise.
        assert_eq!(t.available(view, 0.0).unwrap(), vec![true; 6]);
        assert_eq!(t.snapshot(0.0).unwrap().in_flight, vec![0, 0]);
    }

    #[test]
    fn try_acquire_many_claims_in_order() {
        let t = CapacityTracker::new(vec![slots(2), Capacity::UNLIMITED]).unwrap();
        let got = t
            .try_acquire_many(&[0, -1, 0, 1, 0], &[1.0, f64::NAN, 1.0, 1.0, 1.0], 0.0)
            .unwrap();
        assert_eq!(got, vec![true, false, true, true, false]);
        assert_eq!(t.snapshot(0.0).unwrap().in_flight, vec![2, 1]);
    }

    #[test]
    fn try_acquire_many_validates_before_taking_anything() {
        let t = CapacityTracker::new(vec![slots(2)]).unwrap();
        assert!(t.try_acquire_many(&[0, 1], &[1.0, 1.0], 0.0).is_err());
        assert!(t.try_acquire_many(&[0, 0], &[1.0, -1.0], 0.0).is_err());
        assert!(t.try_acquire_many(&[0], &[1.0, 1.0], 0.0).is_err());
        assert_eq!(t.snapshot(0.0).unwrap().in_flight, vec![0]);
    }

    #[test]
    fn rejects_bad_arguments_naming_them() {
        let cases: Vec<(Vec<Capacity>, &str)> = vec![
            (vec![], "empty"),
            (vec![bucket(0.0, 1.0)], "tokens_per_s"),
            (vec![bucket(1.0, f64::NAN)], "burst_tokens"),
            (vec![bucket(f64::INFINITY, 1.0)], "tokens_per_s"),
            (vec![slots(0)], "max_concurrent = 0"),
        ];
        for (limits, needle) in cases {
            let err = CapacityTracker::new(limits).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
        let t = CapacityTracker::new(vec![bucket(1.0, 10.0)]).unwrap();
        let arg = |e: CoreError| {
            let CoreError::InvalidArgument { argument, .. } = e;
            argument
        };
        assert_eq!(arg(t.try_acquire(1, 1.0, 0.0).unwrap_err()), "model");
        assert_eq!(arg(t.try_acquire(0, -1.0, 0.0).unwrap_err()), "tokens");
        assert_eq!(arg(t.try_acquire(0, f64::NAN, 0.0).unwrap_err()), "tokens");
        assert_eq!(arg(t.try_acquire(0, 1.0, f64::NAN).unwrap_err()), "now_s");
        assert_eq!(
            arg(t.release(0, f64::INFINITY).unwrap_err()),
            "unused_tokens"
        );
        assert_eq!(arg(t.set_down(3, true).unwrap_err()), "model");
        let two = MatrixView::new("tokens", &[1.0, 1.0], 1, 2).unwrap();
        assert_eq!(arg(t.available(two, 0.0).unwrap_err()), "tokens");
        let bad = MatrixView::new("tokens", &[f64::NAN], 1, 1).unwrap();
        let err = t.available(bad, 0.0).unwrap_err();
        assert!(err.to_string().contains("tokens[0, 0]"), "{err}");
    }

    /// Many threads race for a model with a few slots and a small bucket at
    /// the same instant: exactly the capacity is handed out, never more.
    #[test]
    fn threads_never_oversubscribe() {
        let limit = Capacity {
            token_bucket: Some(TokenBucket {
                tokens_per_s: 1.0,
                burst_tokens: 1000.0,
            }),
            max_concurrent: Some(7),
        };
        let tracker = Arc::new(CapacityTracker::new(vec![limit, bucket(1.0, 250.0)]).unwrap());
        let won = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (tracker, won) = (Arc::clone(&tracker), Arc::clone(&won));
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        for model in 0..2 {
                            if tracker.try_acquire(model, 10.0, 0.0).unwrap() {
                                won[model].fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(won[0].load(Ordering::SeqCst), 7); // slots bind first
        assert_eq!(won[1].load(Ordering::SeqCst), 25); // 250 tokens / 10
        assert_eq!(tracker.snapshot(0.0).unwrap().in_flight, vec![7, 25]);
    }
}
