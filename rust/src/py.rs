//! The PyO3 binding: every Python-facing function of the core, in one file.
//!
//! Conventions (see STYLE.md): numbers cross as C-contiguous numpy arrays of
//! one dtype (float64 for probabilities and USD); inputs are borrowed first,
//! then the kernel runs with the GIL released (`Python::detach`); results come
//! back as numpy arrays built from the kernel's vectors without a copy.
//! `CoreError` becomes `learned_router.errors.InvalidInputError` (a
//! `ValueError`) in `to_py_err`, the one place errors are mapped.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::cache::{
    self, Context, Digest, Entry, ExactCache, NewEntry, Removed, Scope, Selector, Snapshot,
};
use crate::capacity::{Capacity, CapacityTracker, TokenBucket};
use crate::error::CoreError;
use crate::select::{self, MatrixView, Policy};

/// Maps a core error to `learned_router.errors.InvalidInputError`, falling
/// back to a plain `ValueError` if the Python package cannot be imported.
fn to_py_err(err: CoreError) -> PyErr {
    let message = err.to_string();
    Python::attach(|py| {
        let exception = py
            .import("learned_router.errors")
            .and_then(|module| module.getattr("InvalidInputError"))
            .and_then(|class| class.call1((message.clone(),)));
        match exception {
            Ok(value) => PyErr::from_value(value),
            Err(_) => PyValueError::new_err(message),
        }
    })
}

fn contiguous<'a, T: numpy::Element>(
    argument: &'static str,
    array: &'a PyReadonlyArray2<'_, T>,
) -> PyResult<MatrixView<'a, T>> {
    let shape = array.shape();
    let data = array.as_slice().map_err(|_| {
        to_py_err(CoreError::InvalidArgument {
            argument,
            message: "must be a C-contiguous array; pass np.ascontiguousarray(...)".into(),
        })
    })?;
    MatrixView::new(argument, data, shape[0], shape[1]).map_err(to_py_err)
}

fn contiguous1<'a, T: numpy::Element>(
    argument: &'static str,
    array: &'a PyReadonlyArray1<'_, T>,
) -> PyResult<&'a [T]> {
    array.as_slice().map_err(|_| {
        to_py_err(CoreError::InvalidArgument {
            argument,
            message: "must be a C-contiguous array; pass np.ascontiguousarray(...)".into(),
        })
    })
}

/// `learned_router.selection.Policy`, read by attribute: the one policy value
/// built from the caller's keywords crosses as it is, named in the one
/// vocabulary (`PolicyName`, the variants of [`Policy`] in snake case).
#[derive(FromPyObject)]
struct PyPolicy {
    #[pyo3(attribute)]
    name: String,
    #[pyo3(attribute)]
    value: f64,
}

impl TryFrom<PyPolicy> for Policy {
    type Error = PyErr;

    fn try_from(policy: PyPolicy) -> PyResult<Policy> {
        let value = policy.value;
        Ok(match policy.name.as_str() {
            "min_quality" => Policy::MinQuality { min_quality: value },
            "max_cost" => Policy::MaxCost {
                max_cost_usd: value,
            },
            "cost_weight" => Policy::CostWeight { cost_weight: value },
            "relative_quality" => Policy::RelativeQuality {
                quality_fraction: value,
            },
            other => {
                return Err(to_py_err(CoreError::InvalidArgument {
                    argument: "policy",
                    message: format!(
                        "unknown policy {other:?}; use one of \"min_quality\", \"max_cost\", \"cost_weight\", \"relative_quality\""
                    ),
                }))
            }
        })
    }
}

type SelectResult<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u8>>,
);

/// Choose one model per prompt. Returns (index, p, cost, outcome) arrays.
#[pyfunction]
#[pyo3(name = "select", signature = (p, cost, available, policy))]
fn select_models<'py>(
    py: Python<'py>,
    p: PyReadonlyArray2<'py, f64>,
    cost: PyReadonlyArray2<'py, f64>,
    available: PyReadonlyArray2<'py, bool>,
    policy: PyPolicy,
) -> PyResult<SelectResult<'py>> {
    let policy = Policy::try_from(policy)?;
    let p = contiguous("p", &p)?;
    let cost = contiguous("cost", &cost)?;
    let available = contiguous("available", &available)?;
    let selection = py
        .detach(|| select::select(p, cost, available, policy))
        .map_err(to_py_err)?;
    Ok((
        selection.index.into_pyarray(py),
        selection.p.into_pyarray(py),
        selection.cost.into_pyarray(py),
        selection.outcome.into_pyarray(py),
    ))
}

/// Thread-safe capacity of self-hosted models (see `capacity.rs`).
///
/// Every method releases the GIL: the call may wait on the tracker's lock
/// while another thread holds it, and must not block Python meanwhile.
#[pyclass(frozen, name = "CapacityTracker", module = "learned_router._core")]
struct PyCapacityTracker {
    inner: CapacityTracker,
}

fn model_index(model: i64) -> PyResult<usize> {
    usize::try_from(model).map_err(|_| {
        to_py_err(CoreError::InvalidArgument {
            argument: "model",
            message: format!("index {model} is negative; pass a model's column index"),
        })
    })
}

type SnapshotResult<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<bool>>,
);

#[pymethods]
impl PyCapacityTracker {
    #[new]
    #[pyo3(signature = (tokens_per_s, burst_tokens, max_concurrent))]
    fn new(
        tokens_per_s: Vec<Option<f64>>,
        burst_tokens: Vec<Option<f64>>,
        max_concurrent: Vec<Option<u32>>,
    ) -> PyResult<Self> {
        let m = tokens_per_s.len();
        if burst_tokens.len() != m || max_concurrent.len() != m {
            return Err(to_py_err(CoreError::InvalidArgument {
                argument: "capacities",
                message: format!(
                    "tokens_per_s, burst_tokens and max_concurrent have {m}, {} and {} \
                     entries; give one per model",
                    burst_tokens.len(),
                    max_concurrent.len()
                ),
            }));
        }
        let mut limits = Vec::with_capacity(m);
        for (j, ((rate, burst), max)) in tokens_per_s
            .into_iter()
            .zip(burst_tokens)
            .zip(max_concurrent)
            .enumerate()
        {
            let token_bucket = match (rate, burst) {
                (None, None) => None,
                (Some(tokens_per_s), Some(burst_tokens)) => Some(TokenBucket {
                    tokens_per_s,
                    burst_tokens,
                }),
                _ => {
                    return Err(to_py_err(CoreError::InvalidArgument {
                        argument: "capacities",
                        message: format!(
                            "model {j}: give both tokens_per_s and burst_tokens, or neither"
                        ),
                    }))
                }
            };
            limits.push(Capacity {
                token_bucket,
                max_concurrent: max,
            });
        }
        Ok(Self {
            inner: CapacityTracker::new(limits).map_err(to_py_err)?,
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Which models could admit each request now: `[n, m]` tokens in, `[n, m]` mask out.
    fn available<'py>(
        &self,
        py: Python<'py>,
        tokens: PyReadonlyArray2<'py, f64>,
        now_s: f64,
    ) -> PyResult<Bound<'py, PyArray2<bool>>> {
        let view = contiguous("tokens", &tokens)?;
        let (rows, cols) = (view.rows(), view.cols());
        let mask = py
            .detach(|| self.inner.available(view, now_s))
            .map_err(to_py_err)?;
        let mask = Array2::from_shape_vec((rows, cols), mask)
            .expect("the kernel returns one value per cell");
        Ok(mask.into_pyarray(py))
    }

    /// Atomically claims `tokens` and a slot on `model`; False if it is saturated.
    fn try_acquire(&self, py: Python<'_>, model: i64, tokens: f64, now_s: f64) -> PyResult<bool> {
        let model = model_index(model)?;
        py.detach(|| self.inner.try_acquire(model, tokens, now_s))
            .map_err(to_py_err)
    }

    /// `try_acquire` for a batch, in order, under one lock; index -1 is skipped.
    fn try_acquire_many<'py>(
        &self,
        py: Python<'py>,
        models: PyReadonlyArray1<'py, i64>,
        tokens: PyReadonlyArray1<'py, f64>,
        now_s: f64,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let models = contiguous1("models", &models)?;
        let tokens = contiguous1("tokens", &tokens)?;
        let won = py
            .detach(|| self.inner.try_acquire_many(models, tokens, now_s))
            .map_err(to_py_err)?;
        Ok(won.into_pyarray(py))
    }

    /// Frees a slot on `model` and returns its unused tokens to the bucket.
    fn release(&self, py: Python<'_>, model: i64, unused_tokens: f64) -> PyResult<()> {
        let model = model_index(model)?;
        py.detach(|| self.inner.release(model, unused_tokens))
            .map_err(to_py_err)
    }

    /// Marks `model` down (never available) or up again.
    fn set_down(&self, py: Python<'_>, model: i64, down: bool) -> PyResult<()> {
        let model = model_index(model)?;
        py.detach(|| self.inner.set_down(model, down))
            .map_err(to_py_err)
    }

    /// (bucket level, requests in flight, down) per model at `now_s`.
    fn snapshot<'py>(&self, py: Python<'py>, now_s: f64) -> PyResult<SnapshotResult<'py>> {
        let snap = py
            .detach(|| self.inner.snapshot(now_s))
            .map_err(to_py_err)?;
        Ok((
            snap.tokens.into_pyarray(py),
            snap.in_flight.into_pyarray(py),
            snap.down.into_pyarray(py),
        ))
    }
}

// ===========================================================================
// The answer cache's exact tier (`crate::cache`), used by
// `learned_router.cache.SemanticCache`.
// ===========================================================================

/// `(ids, scopes, reasons)` of entries that left the cache: int64, int64 and
/// uint8 (`RemovalReason` codes) arrays.
type RemovedArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<u8>>,
);

fn removed_arrays(py: Python<'_>, removed: Vec<Removed>) -> RemovedArrays<'_> {
    let ids: Vec<i64> = removed.iter().map(|r| r.id as i64).collect();
    let scopes: Vec<i64> = removed.iter().map(|r| i64::from(r.scope)).collect();
    let reasons: Vec<u8> = removed.iter().map(|r| r.reason as u8).collect();
    (
        ids.into_pyarray(py),
        scopes.into_pyarray(py),
        reasons.into_pyarray(py),
    )
}

fn digest_arg(argument: &'static str, bytes: &[u8]) -> PyResult<Digest> {
    Digest::try_from(bytes).map_err(|_| {
        to_py_err(CoreError::invalid(
            argument,
            format!(
                "is {} bytes; pass a 32-byte digest from prompt_digest()/context_digest()",
                bytes.len()
            ),
        ))
    })
}

/// `(id, response, cost_usd, created_at)` of a hit.
type HitTuple = (u64, String, f64, f64);

fn hit_tuple(entry: &Entry) -> HitTuple {
    (
        entry.id,
        entry.data.response.clone(),
        entry.data.cost_usd,
        entry.data.created_at,
    )
}

/// Collapse whitespace, lowercase and strip final ?!. (the exact tier's key).
#[pyfunction]
fn normalise_prompt(py: Python<'_>, prompt: &str) -> String {
    py.detach(|| cache::normalise_prompt(prompt))
}

/// SHA-256 of the normalised prompt.
#[pyfunction]
fn prompt_digest<'py>(py: Python<'py>, prompt: &str) -> Bound<'py, PyBytes> {
    let digest = py.detach(|| cache::prompt_digest(prompt));
    PyBytes::new(py, &digest)
}

/// SHA-256 of (namespace, model, system prompt, canonical params JSON).
#[pyfunction]
#[pyo3(signature = (namespace, model, system_prompt, params))]
fn context_digest<'py>(
    py: Python<'py>,
    namespace: &str,
    model: Option<&str>,
    system_prompt: Option<&str>,
    params: &str,
) -> Bound<'py, PyBytes> {
    let context = Context {
        namespace,
        model,
        system_prompt,
        params,
    };
    let digest = py.detach(|| cache::context_digest(&context));
    PyBytes::new(py, &digest)
}

/// The exact tier: entries by (scope, prompt digest) with TTL and LRU.
///
/// One instance is shared by every thread of a service, and every call
/// mutates it (lookups move entries to the front of the LRU list), so a
/// read-write lock would not let readers run in parallel: one `Mutex` guards
/// it. Each call holds the lock for a few microseconds and takes it with the
/// GIL released, and nothing under the lock touches Python, so a thread
/// waiting for the lock never blocks Python code and cannot deadlock with the
/// GIL. Kernels validate their arguments before mutating anything, so a
/// poisoned lock (a panic, which would be a bug) still guards a consistent
/// state and is recovered.
#[pyclass(frozen, name = "ExactCache", module = "learned_router._core")]
struct PyExactCache {
    inner: Mutex<ExactCache>,
}

impl PyExactCache {
    fn with<R>(&self, f: impl FnOnce(&mut ExactCache) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

#[pymethods]
impl PyExactCache {
    #[new]
    fn new(max_entries: usize) -> PyResult<Self> {
        let cache = ExactCache::new(max_entries).map_err(to_py_err)?;
        Ok(Self {
            inner: Mutex::new(cache),
        })
    }

    #[getter]
    fn max_entries(&self, py: Python<'_>) -> usize {
        py.detach(|| self.with(|c| c.max_entries()))
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        py.detach(|| self.with(|c| c.len()))
    }

    /// The scope id of (tenant, context), created on first use.
    fn scope(
        &self,
        py: Python<'_>,
        tenant: &str,
        namespace: &str,
        model: Option<&str>,
        context: &[u8],
    ) -> PyResult<u32> {
        let context = digest_arg("context", context)?;
        Ok(py.detach(|| self.with(|c| c.scope(tenant, namespace, model, context))))
    }

    /// The scope id of (tenant, context), or None if it was never used.
    fn find_scope(&self, py: Python<'_>, tenant: &str, context: &[u8]) -> PyResult<Option<u32>> {
        let context = digest_arg("context", context)?;
        Ok(py.detach(|| self.with(|c| c.find_scope(tenant, &context))))
    }

    /// (id, response, cost_usd, created_at) of the live entry under this key.
    fn get(
        &self,
        py: Python<'_>,
        scope: u32,
        prompt: &[u8],
        now: f64,
    ) -> PyResult<Option<HitTuple>> {
        let prompt = digest_arg("prompt", prompt)?;
        Ok(py.detach(|| self.with(|c| c.get(scope, &prompt, now).map(hit_tuple))))
    }

    /// For each id, whether an entry with it is stored (live or not yet purged).
    fn contains<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, i64>,
    ) -> Bound<'py, PyArray1<bool>> {
        let ids = ids.as_array();
        let found: Vec<bool> = py.detach(|| {
            self.with(|c| {
                ids.iter()
                    .map(|&id| u64::try_from(id).is_ok_and(|id| c.contains(id)))
                    .collect()
            })
        });
        found.into_pyarray(py)
    }

    /// (key_text, response) of a live entry of this scope, without marking
    /// it used.
    fn peek(&self, py: Python<'_>, id: u64, scope: u32, now: f64) -> Option<(String, String)> {
        py.detach(|| {
            self.with(|c| {
                c.peek(id, scope, now)
                    .map(|e| (e.data.key_text.clone(), e.data.response.clone()))
            })
        })
    }

    /// Like get() but by id: marks the entry used and returns it.
    fn hit(&self, py: Python<'_>, id: u64, scope: u32, now: f64) -> Option<HitTuple> {
        py.detach(|| self.with(|c| c.hit(id, scope, now).map(hit_tuple)))
    }

    /// Stores an entry; returns its id and the entries that left the cache.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (scope, prompt, key_text, response, cost_usd, created_at, expires_at, now))]
    fn insert<'py>(
        &self,
        py: Python<'py>,
        scope: u32,
        prompt: &[u8],
        key_text: String,
        response: String,
        cost_usd: f64,
        created_at: f64,
        expires_at: f64,
        now: f64,
    ) -> PyResult<(u64, RemovedArrays<'py>)> {
        let prompt = digest_arg("prompt", prompt)?;
        let entry = NewEntry {
            key_text,
            response,
            cost_usd,
            created_at,
            expires_at,
        };
        let (id, removed) = py
            .detach(|| self.with(|c| c.insert(scope, prompt, entry, now)))
            .map_err(to_py_err)?;
        Ok((id, removed_arrays(py, removed)))
    }

    /// Removes one entry by id.
    fn remove<'py>(&self, py: Python<'py>, id: u64) -> RemovedArrays<'py> {
        let removed = py.detach(|| self.with(|c| c.remove(id)));
        removed_arrays(py, removed.into_iter().collect())
    }

    /// Removes the entry under this key.
    fn remove_key<'py>(
        &self,
        py: Python<'py>,
        scope: u32,
        prompt: &[u8],
    ) -> PyResult<RemovedArrays<'py>> {
        let prompt = digest_arg("prompt", prompt)?;
        let removed = py.detach(|| self.with(|c| c.remove_key(scope, &prompt)));
        Ok(removed_arrays(py, removed.into_iter().collect()))
    }

    /// Removes every entry whose scope matches all the given fields.
    #[pyo3(signature = (tenant=None, model=None, namespace=None))]
    fn remove_matching<'py>(
        &self,
        py: Python<'py>,
        tenant: Option<&str>,
        model: Option<&str>,
        namespace: Option<&str>,
    ) -> RemovedArrays<'py> {
        let selector = Selector {
            tenant,
            model,
            namespace,
        };
        let removed = py.detach(|| self.with(|c| c.remove_matching(selector)));
        removed_arrays(py, removed)
    }

    /// Removes every entry whose TTL ran out by `now`.
    fn purge_expired<'py>(&self, py: Python<'py>, now: f64) -> RemovedArrays<'py> {
        let removed = py.detach(|| self.with(|c| c.purge_expired(now)));
        removed_arrays(py, removed)
    }

    /// Event counts: inserts, replaced, evicted, expired, invalidated.
    fn counters(&self, py: Python<'_>) -> HashMap<&'static str, u64> {
        let c = py.detach(|| self.with(|c| c.counters()));
        HashMap::from([
            ("inserts", c.inserts),
            ("replaced", c.replaced),
            ("evicted", c.evicted),
            ("expired", c.expired),
            ("invalidated", c.invalidated),
        ])
    }

    /// Scopes as (tenant, namespace, model, context digest) tuples, by id.
    fn scopes(&self, py: Python<'_>) -> Vec<ScopeTuple> {
        py.detach(|| self.with(|c| c.scopes().iter().map(scope_tuple).collect()))
    }

    /// Entry ids in LRU order, least recently used first.
    fn lru_order<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        let order: Vec<i64> =
            py.detach(|| self.with(|c| c.lru_order().into_iter().map(|id| id as i64).collect()));
        order.into_pyarray(py)
    }

    /// Everything needed by restore(), entries least recently used first.
    fn export<'py>(&self, py: Python<'py>) -> ExportTuple<'py> {
        let snapshot = py.detach(|| self.with(|c| c.export()));
        let n = snapshot.entries.len();
        let mut ids = Vec::with_capacity(n);
        let mut scopes = Vec::with_capacity(n);
        let mut prompts = Vec::with_capacity(32 * n);
        let mut key_texts = Vec::with_capacity(n);
        let mut responses = Vec::with_capacity(n);
        let mut cost = Vec::with_capacity(n);
        let mut created = Vec::with_capacity(n);
        let mut expires = Vec::with_capacity(n);
        for (id, scope, prompt, data) in snapshot.entries {
            ids.push(id as i64);
            scopes.push(i64::from(scope));
            prompts.extend_from_slice(&prompt);
            key_texts.push(data.key_text);
            responses.push(data.response);
            cost.push(data.cost_usd);
            created.push(data.created_at);
            expires.push(data.expires_at);
        }
        (
            snapshot.next_id,
            snapshot.scopes.iter().map(scope_tuple).collect(),
            ids.into_pyarray(py),
            scopes.into_pyarray(py),
            PyBytes::new(py, &prompts),
            key_texts,
            responses,
            cost.into_pyarray(py),
            created.into_pyarray(py),
            expires.into_pyarray(py),
        )
    }

    /// Rebuilds a cache from export()'s parts; returns it and the entries
    /// dropped to fit `max_entries`. Inconsistent parts are rejected.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (max_entries, next_id, scopes, ids, entry_scopes, prompts, key_texts, responses, cost_usd, created_at, expires_at))]
    fn restore<'py>(
        py: Python<'py>,
        max_entries: usize,
        next_id: u64,
        scopes: Vec<ScopeTuple>,
        ids: PyReadonlyArray1<'py, i64>,
        entry_scopes: PyReadonlyArray1<'py, i64>,
        prompts: &[u8],
        key_texts: Vec<String>,
        responses: Vec<String>,
        cost_usd: PyReadonlyArray1<'py, f64>,
        created_at: PyReadonlyArray1<'py, f64>,
        expires_at: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<(Self, RemovedArrays<'py>)> {
        let ids = ids.as_array();
        let entry_scopes = entry_scopes.as_array();
        let (cost_usd, created_at, expires_at) = (
            cost_usd.as_array(),
            created_at.as_array(),
            expires_at.as_array(),
        );
        let n = ids.len();
        let lengths = [
            entry_scopes.len(),
            key_texts.len(),
            responses.len(),
            cost_usd.len(),
            created_at.len(),
            expires_at.len(),
        ];
        if lengths.iter().any(|&len| len != n) || prompts.len() != 32 * n {
            return Err(to_py_err(CoreError::invalid(
                "snapshot",
                format!(
                    "columns have different lengths: {n} ids, {lengths:?} others, {} prompt bytes",
                    prompts.len()
                ),
            )));
        }
        let mut entries = Vec::with_capacity(n);
        for (i, (key_text, response)) in key_texts.into_iter().zip(responses).enumerate() {
            let (Ok(id), Ok(scope)) = (u64::try_from(ids[i]), u32::try_from(entry_scopes[i]))
            else {
                return Err(to_py_err(CoreError::invalid(
                    "snapshot",
                    format!("entry {i} has a negative id or scope"),
                )));
            };
            let prompt = Digest::try_from(&prompts[32 * i..32 * (i + 1)]).expect("32 bytes");
            entries.push((
                id,
                scope,
                prompt,
                NewEntry {
                    key_text,
                    response,
                    cost_usd: cost_usd[i],
                    created_at: created_at[i],
                    expires_at: expires_at[i],
                },
            ));
        }
        let scopes = scopes
            .into_iter()
            .map(|(tenant, namespace, model, context)| {
                Ok(Scope {
                    tenant,
                    namespace,
                    model,
                    context: digest_arg("scopes", &context)?,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let snapshot = Snapshot {
            max_entries,
            next_id,
            scopes,
            entries,
        };
        let (cache, removed) = py
            .detach(|| ExactCache::restore(snapshot, max_entries))
            .map_err(to_py_err)?;
        Ok((
            Self {
                inner: Mutex::new(cache),
            },
            removed_arrays(py, removed),
        ))
    }
}

/// (tenant, namespace, model, context digest).
type ScopeTuple = (String, String, Option<String>, Vec<u8>);

fn scope_tuple(scope: &Scope) -> ScopeTuple {
    (
        scope.tenant.clone(),
        scope.namespace.clone(),
        scope.model.clone(),
        scope.context.to_vec(),
    )
}

type ExportTuple<'py> = (
    u64,
    Vec<ScopeTuple>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyBytes>,
    Vec<String>,
    Vec<String>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(select_models, m)?)?;
    m.add_class::<PyCapacityTracker>()?;
    m.add_function(wrap_pyfunction!(normalise_prompt, m)?)?;
    m.add_function(wrap_pyfunction!(prompt_digest, m)?)?;
    m.add_function(wrap_pyfunction!(context_digest, m)?)?;
    m.add_class::<PyExactCache>()?;
    Ok(())
}
