//! Binding of the capacity tracker (`crate::capacity`), used by
//! `learned_router.capacity`.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use super::{contiguous, contiguous1, to_py_err};
use crate::capacity::{Capacity, CapacityTracker, TokenBucket};
use crate::error::CoreError;

/// Thread-safe capacity of self-hosted models (see `capacity.rs`).
///
/// Every method releases the GIL: the call may wait on the tracker's lock
/// while another thread holds it, and must not block Python meanwhile.
#[pyclass(frozen, name = "CapacityTracker", module = "learned_router._core")]
pub(super) struct PyCapacityTracker {
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
