//! The PyO3 binding, one file per domain: `select` (the selection kernel),
//! `capacity` (self-hosted capacity) and `cache` (the answer cache's exact
//! tier). This file holds what they share and registers the module.
//!
//! Conventions (see the repository's docs/architecture.md): numbers cross as
//! C-contiguous numpy arrays of one dtype (float64 for probabilities and USD);
//! inputs are borrowed first, then the kernel runs with the GIL released
//! (`Python::detach`); results come back as numpy arrays built from the
//! kernel's vectors without a copy. `CoreError` becomes
//! `learned_router.errors.InvalidInputError` (a `ValueError`) in `to_py_err`,
//! the one place errors are mapped.

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::CoreError;
use crate::select::MatrixView;

mod cache;
mod capacity;
mod select;

/// Maps a core error to `learned_router.errors.InvalidInputError`, falling
/// back to a plain `ValueError` if the Python package cannot be imported.
pub(crate) fn to_py_err(err: CoreError) -> PyErr {
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

pub(crate) fn contiguous<'a, T: numpy::Element>(
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

pub(crate) fn contiguous1<'a, T: numpy::Element>(
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(select::select_models, m)?)?;
    m.add_class::<capacity::PyCapacityTracker>()?;
    m.add_function(wrap_pyfunction!(cache::normalise_prompt, m)?)?;
    m.add_function(wrap_pyfunction!(cache::prompt_digest, m)?)?;
    m.add_function(wrap_pyfunction!(cache::context_digest, m)?)?;
    m.add_class::<cache::PyExactCache>()?;
    m.add_class::<cache::PyExactSnapshot>()?;
    Ok(())
}
