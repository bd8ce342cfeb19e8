//! Binding of the answer cache's exact tier (`crate::cache`), used by
//! `learned_router.cache.SemanticCache`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::to_py_err;
use crate::cache::{
    self, Context, Digest, Entry, ExactCache, NewEntry, Removed, Scope, Selector, Snapshot,
};
use crate::error::CoreError;

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
pub(super) fn normalise_prompt(py: Python<'_>, prompt: &str) -> String {
    py.detach(|| cache::normalise_prompt(prompt))
}

/// SHA-256 of the normalised prompt.
#[pyfunction]
pub(super) fn prompt_digest<'py>(py: Python<'py>, prompt: &str) -> Bound<'py, PyBytes> {
    let digest = py.detach(|| cache::prompt_digest(prompt));
    PyBytes::new(py, &digest)
}

/// SHA-256 of (namespace, model, system prompt, canonical params JSON).
#[pyfunction]
#[pyo3(signature = (namespace, model, system_prompt, params))]
pub(super) fn context_digest<'py>(
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
pub(super) struct PyExactCache {
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
    fn export(&self, py: Python<'_>) -> PyExactSnapshot {
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
        PyExactSnapshot {
            next_id: snapshot.next_id,
            scopes: snapshot.scopes.iter().map(scope_tuple).collect(),
            ids: ids.into_pyarray(py).unbind(),
            entry_scopes: scopes.into_pyarray(py).unbind(),
            prompts: PyBytes::new(py, &prompts).unbind(),
            key_texts,
            responses,
            cost_usd: cost.into_pyarray(py).unbind(),
            created_at: created.into_pyarray(py).unbind(),
            expires_at: expires.into_pyarray(py).unbind(),
        }
    }

    /// Rebuilds a cache from an `ExactSnapshot` (export()'s result); returns it
    /// and the entries dropped to fit `max_entries`. An inconsistent snapshot
    /// is rejected.
    #[staticmethod]
    fn restore<'py>(
        py: Python<'py>,
        max_entries: usize,
        snapshot: &Bound<'py, PyExactSnapshot>,
    ) -> PyResult<(Self, RemovedArrays<'py>)> {
        let parts = snapshot.get();
        let next_id = parts.next_id;
        let scopes = parts.scopes.clone();
        let (key_texts, responses) = (parts.key_texts.clone(), parts.responses.clone());
        let prompts_bytes = parts.prompts.bind(py).clone();
        let prompts = prompts_bytes.as_bytes();
        let ids = parts.ids.bind(py).readonly();
        let entry_scopes = parts.entry_scopes.bind(py).readonly();
        let cost_usd = parts.cost_usd.bind(py).readonly();
        let created_at = parts.created_at.bind(py).readonly();
        let expires_at = parts.expires_at.bind(py).readonly();
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

/// The exact tier's contents, entries least recently used first, as columns:
/// what `ExactCache.export()` returns and `ExactCache.restore()` takes.
#[pyclass(frozen, name = "ExactSnapshot", module = "learned_router._core")]
pub(super) struct PyExactSnapshot {
    /// The id the next entry will get.
    #[pyo3(get)]
    next_id: u64,
    /// Scopes as (tenant, namespace, model, context digest), by scope id.
    #[pyo3(get)]
    scopes: Vec<ScopeTuple>,
    /// Entry ids (int64).
    #[pyo3(get)]
    ids: Py<PyArray1<i64>>,
    /// Each entry's scope id (int64).
    #[pyo3(get)]
    entry_scopes: Py<PyArray1<i64>>,
    /// Each entry's 32-byte prompt digest, concatenated.
    #[pyo3(get)]
    prompts: Py<PyBytes>,
    #[pyo3(get)]
    key_texts: Vec<String>,
    #[pyo3(get)]
    responses: Vec<String>,
    #[pyo3(get)]
    cost_usd: Py<PyArray1<f64>>,
    #[pyo3(get)]
    created_at: Py<PyArray1<f64>>,
    #[pyo3(get)]
    expires_at: Py<PyArray1<f64>>,
}

#[pymethods]
impl PyExactSnapshot {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (*, next_id, scopes, ids, entry_scopes, prompts, key_texts, responses, cost_usd, created_at, expires_at))]
    fn new(
        next_id: u64,
        scopes: Vec<ScopeTuple>,
        ids: Py<PyArray1<i64>>,
        entry_scopes: Py<PyArray1<i64>>,
        prompts: Py<PyBytes>,
        key_texts: Vec<String>,
        responses: Vec<String>,
        cost_usd: Py<PyArray1<f64>>,
        created_at: Py<PyArray1<f64>>,
        expires_at: Py<PyArray1<f64>>,
    ) -> Self {
        Self {
            next_id,
            scopes,
            ids,
            entry_scopes,
            prompts,
            key_texts,
            responses,
            cost_usd,
            created_at,
            expires_at,
        }
    }

    /// Number of entries.
    fn __len__(&self) -> usize {
        self.key_texts.len()
    }
}
