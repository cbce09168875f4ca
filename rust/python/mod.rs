//! The PyO3 binding layer: the only code that touches Python. Everything here converts
//! arguments, calls the core and maps errors (`error.rs`); no numerics live here. Elementwise
//! ops are listed in `op_tables.rs`, one line each.

mod attention;
mod autograd;
#[cfg(feature = "buffer-protocol")]
mod buffer;
mod conv;
mod convert;
mod dlpack;
mod error;
mod functions;
mod interop;
mod io;
mod nn;
mod node;
mod op_tables;
mod optim;
mod pool;
mod rnn;
mod size;
mod tensor;
mod tensor_math;
mod tensor_shape;
mod trace;

/// `ferrograd._core`: the classes, the factories and the fused kernels the Python package wraps.
#[pyo3::pymodule(name = "_core")]
mod core_module {
    use pyo3::prelude::*;

    use crate::tensor::DType;

    #[pymodule_export]
    use super::tensor::PyTensor;
    #[pymodule_export]
    use super::convert::PyDType;
    #[pymodule_export]
    use super::node::PyNode;
    #[pymodule_export]
    use super::autograd::{PySavedTensor, _function_node, _pop_saved_tensors_hooks, _push_saved_tensors_hooks};
    #[pymodule_export]
    use super::functions::{
        _add_at, _backward, _can_cast, _cdist, _embedding_bag, _flip, _grid_sample_bilinear, _grid_sample_bilinear_backward, _full_like, _gather, _grad, _index_add, _l2_norm, _nonzero, _pad, _pad_edges, _preserved_strides, _promote_types, _result_type, _roll, _scatter_add, _set_anomaly_enabled, _set_grad_enabled, _set_inference_mode, _sort, _tri, _version_of, arange, cat, eye, from_numpy, full, get_num_threads, get_rng_state, is_anomaly_enabled, is_grad_enabled,
        is_inference_mode_enabled, linspace, manual_seed, max_memory_allocated, memory_allocated, rand, randint, randn, randperm,
        reset_peak_memory_stats, set_rng_state, stack, where_,
    };
    #[pymodule_export]
    use super::nn::{
        _batch_norm, _binary_cross_entropy, _check_dropout_p, _cross_entropy, _dropout, _gelu, _group_norm, _layer_norm, _leaky_relu, _leaky_relu_, _linear, _silu,
        _activation, _assign_saving_result, _softplus,
    };
    #[pymodule_export]
    use super::optim::{_adadelta_step, _adagrad_step, _adam_step, _rmsprop_step, _sgd_step};
    #[pymodule_export]
    use super::conv::{_conv, _conv_transpose, _fold, _unfold};
    #[pymodule_export]
    use super::pool::{_adaptive_avg_pool, _adaptive_max_pool, _avg_pool, _max_pool, _max_unpool};
    #[pymodule_export]
    use super::rnn::{_gru_layer, _lstm_layer, _rnn_layer};
    #[pymodule_export]
    use super::io::{_load_safetensors, _save_safetensors};
    #[pymodule_export]
    use super::interop::{StorageRef, _share_numpy};
    #[pymodule_export]
    use super::dlpack::_from_dlpack;
    #[pymodule_export]
    use super::attention::_sdpa;
    #[pymodule_export]
    use super::trace::{_is_tracing, _trace_begin, _trace_end, _trace_ids, _trace_module, _trace_op};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        // The importing thread joins rayon's pool as a worker (see `parallel`).
        crate::parallel::init();
        crate::tensor::alloc::configure();
        super::error::quiet_out_of_memory_panics();
        for d in DType::ALL {
            m.add(d.short_name(), super::convert::dtype_object(m.py(), d)?)?;
        }
        // The tensor methods `ferrograd._functions` also exports as functions (`fg.exp(t)`).
        m.add("_TABLE_FUNCTIONS", super::op_tables::function_forms())?;
        // Whether tensors export the buffer protocol (see Cargo.toml's `buffer-protocol`).
        m.add("_HAS_BUFFER_PROTOCOL", cfg!(feature = "buffer-protocol"))?;
        // The C base of `ferrograd.Size` (see `size.rs`).
        m.add("_SizeBase", super::size::size_base_type(m.py())?)?;
        Ok(())
    }
}
