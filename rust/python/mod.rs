//! The PyO3 binding layer: the only code that touches Python. Everything here converts
//! arguments, calls the core and maps errors (`error.rs`); no numerics live here.

mod conv;
mod convert;
mod error;
mod functions;
mod io;
mod nn;
mod node;
mod optim;
mod tensor;
mod tensor_math;
mod tensor_shape;

use pyo3::prelude::*;

use crate::tensor::DType;

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The importing thread joins rayon's pool as a worker (see `parallel`).
    crate::parallel::init();
    error::quiet_out_of_memory_panics();
    m.add_class::<tensor::PyTensor>()?;
    m.add_class::<convert::PyDType>()?;
    m.add_class::<node::PyNode>()?;
    for d in DType::ALL {
        m.add(d.short_name(), convert::PyDType(d))?;
    }
    use functions::*;
    m.add_function(wrap_pyfunction!(from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(full, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(linspace, m)?)?;
    m.add_function(wrap_pyfunction!(eye, m)?)?;
    m.add_function(wrap_pyfunction!(rand, m)?)?;
    m.add_function(wrap_pyfunction!(randn, m)?)?;
    m.add_function(wrap_pyfunction!(randint, m)?)?;
    m.add_function(wrap_pyfunction!(randperm, m)?)?;
    m.add_function(wrap_pyfunction!(manual_seed, m)?)?;
    m.add_function(wrap_pyfunction!(get_rng_state, m)?)?;
    m.add_function(wrap_pyfunction!(set_rng_state, m)?)?;
    m.add_function(wrap_pyfunction!(cat, m)?)?;
    m.add_function(wrap_pyfunction!(stack, m)?)?;
    m.add_function(wrap_pyfunction!(where_, m)?)?;
    m.add_function(wrap_pyfunction!(is_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(_set_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(is_inference_mode_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(_set_inference_mode, m)?)?;
    m.add_function(wrap_pyfunction!(_backward, m)?)?;
    m.add_function(wrap_pyfunction!(_grad, m)?)?;
    m.add_function(wrap_pyfunction!(memory_allocated, m)?)?;
    m.add_function(wrap_pyfunction!(max_memory_allocated, m)?)?;
    m.add_function(wrap_pyfunction!(reset_peak_memory_stats, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_dropout, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_check_dropout_p, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_batch_norm, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_leaky_relu, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_gelu, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_silu, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_linear, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_binary_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(nn::_softplus, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_sgd_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_adam_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_rmsprop_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_adagrad_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim::_adadelta_step, m)?)?;
    m.add_function(wrap_pyfunction!(conv::_conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(conv::_max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(conv::_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(conv::_adaptive_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(io::_save_safetensors, m)?)?;
    m.add_function(wrap_pyfunction!(io::_load_safetensors, m)?)?;
    Ok(())
}
