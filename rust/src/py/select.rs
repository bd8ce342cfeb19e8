//! Binding of the selection kernel (`crate::select`), used by
//! `learned_router.selection`.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use super::{contiguous, to_py_err};
use crate::error::CoreError;
use crate::select::{self, Policy};

/// `learned_router.selection.Policy`, read by attribute: the one policy value
/// built from the caller's keywords crosses as it is, named in the one
/// vocabulary (`PolicyName`, the variants of [`Policy`] in snake case).
#[derive(FromPyObject)]
pub(super) struct PyPolicy {
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
pub(super) fn select_models<'py>(
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
