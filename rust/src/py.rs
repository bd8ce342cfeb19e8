//! The PyO3 binding: every Python-facing function of the core, in one file.
//!
//! Conventions (see STYLE.md): numbers cross as C-contiguous numpy arrays of
//! one dtype (float64 for probabilities and USD); inputs are borrowed first,
//! then the kernel runs with the GIL released (`Python::detach`); results come
//! back as numpy arrays built from the kernel's vectors without a copy.
//! `CoreError` becomes `learned_router.errors.InvalidInputError` (a
//! `ValueError`) in `to_py_err`, the one place errors are mapped.

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

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

fn parse_policy(policy: &str, value: f64) -> PyResult<Policy> {
    Ok(match policy {
        "min_quality" => Policy::MinQuality { min_quality: value },
        "max_cost" => Policy::MaxCost {
            max_cost_usd: value,
        },
        "cost_weight" => Policy::CostWeighted { cost_weight: value },
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

type SelectResult<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u8>>,
);

/// Choose one model per prompt. Returns (index, p, cost, outcome) arrays.
#[pyfunction]
#[pyo3(name = "select", signature = (p, cost, available, policy, value))]
fn select_models<'py>(
    py: Python<'py>,
    p: PyReadonlyArray2<'py, f64>,
    cost: PyReadonlyArray2<'py, f64>,
    available: PyReadonlyArray2<'py, bool>,
    policy: &str,
    value: f64,
) -> PyResult<SelectResult<'py>> {
    let policy = parse_policy(policy, value)?;
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(select_models, m)?)?;
    m.add_class::<PyCapacityTracker>()?;
    Ok(())
}
