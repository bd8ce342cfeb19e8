//! The PyO3 binding: every Python-facing function of the core, in one file.
//!
//! Conventions (see STYLE.md): numbers cross as C-contiguous numpy arrays of
//! one dtype (float64 for probabilities and USD); inputs are borrowed first,
//! then the kernel runs with the GIL released (`Python::detach`); results come
//! back as numpy arrays built from the kernel's vectors without a copy.
//! `CoreError` becomes `learned_router.errors.InvalidInputError` (a
//! `ValueError`) in `to_py_err`, the one place errors are mapped.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(select_models, m)?)?;
    Ok(())
}
