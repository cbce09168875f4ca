//! The in-place activations whose backward PyTorch computes from the result: `hardtanh_` (and
//! so `relu6(inplace=True)`, MobileNet's) and `elu_`, `selu_`, `celu_`. Their gradient needs
//! only the output: hardtanh passes it where min < y < max, which is where min < x < max; ELU
//! with alpha >= 0 has y <= 0 exactly where x <= 0, and there dy/dx = input_scale (y + alpha
//! scale). So the node saves the written tensor itself, where the general in-place path
//! (`inplace::assign`) ran the op on a clone of the input and kept that clone for backward:
//! a whole activation more per layer than PyTorch keeps.
//!
//! The caller computes the value with the out-of-place op (so both forms give the same bits)
//! and hands it here to be written.

use crate::autograd::{is_recording, rebase, trace, Backward, Saved};
use crate::error::Result;
use crate::ops::expr::{ex, Ex};
use crate::ops::kernel::zip;
use crate::ops::unary::c;
use crate::tensor::{Float, Tensor};
use crate::with_float;

/// Which activation, with its constants: its backward written in terms of the result y.
#[derive(Clone, Copy, Debug)]
pub enum ResultRule {
    /// PyTorch's hardtanh_backward on the result: 0 where y <= min or y >= max (at the bounds
    /// too), g elsewhere, a NaN included.
    Hardtanh { min: f64, max: f64 },
    /// elu_backward with is_result: y <= 0 ? g input_scale (y + alpha scale) : g scale. CELU is
    /// this with scale 1 and input_scale 1 / alpha (its node is named CeluBackward1).
    Elu { alpha: f64, scale: f64, input_scale: f64, celu: bool },
}

impl ResultRule {
    fn name(self) -> &'static str {
        match self {
            ResultRule::Hardtanh { .. } => "HardtanhBackward0",
            ResultRule::Elu { celu: false, .. } => "EluBackward1",
            ResultRule::Elu { celu: true, .. } => "CeluBackward1",
        }
    }

    /// Whether y determines the gradient: an ELU with a negative alpha has y > 0 for some x < 0
    /// (PyTorch refuses that backward in place; the general path handles it here).
    fn reads_result(self) -> bool {
        match self {
            ResultRule::Hardtanh { .. } => true,
            ResultRule::Elu { alpha, .. } => alpha >= 0.0,
        }
    }

    #[inline(always)]
    fn grad<T: Float>(self, g: T, y: T) -> T {
        match self {
            ResultRule::Hardtanh { min, max } => {
                if y <= c::<T>(min) || y >= c::<T>(max) { T::zero() } else { g }
            }
            ResultRule::Elu { alpha, scale, input_scale, .. } => {
                if y <= T::zero() { g * c::<T>(input_scale) * (y + c::<T>(alpha * scale)) } else { g * c::<T>(scale) }
            }
        }
    }

    /// The same rule in recorded ops (create_graph): y keeps its history, the masks are constant.
    fn graph(self, g: Ex, y: Ex) -> Ex {
        match self {
            ResultRule::Hardtanh { min, max } => Ex::select(y.clone().le(min), Ex::c(0.0), Ex::select(y.ge(max), Ex::c(0.0), g)),
            ResultRule::Elu { alpha, scale, input_scale, .. } => {
                Ex::select(y.clone().le(0.0), g.clone() * input_scale * (y + alpha * scale), g * scale)
            }
        }
    }
}

/// Writes `value` (the out-of-place op on `t`) into `t` and, on the graph, makes `t`'s node the
/// rule's, saving `t` itself. Returns false, having done nothing, where this path does not
/// apply (the caller then takes the general one): a half, integer or strided tensor, a view on
/// the graph, a trace, or a rule that cannot read the result.
pub fn assign_saving_result(t: &Tensor, value: &Tensor, rule: ResultRule) -> Result<bool> {
    let graph = is_recording() && t.requires_grad();
    let dtype = t.dtype();
    if !rule.reads_result() || !dtype.is_float() || dtype.is_half() || !t.is_contiguous() || trace::is_tracing() || (graph && t.is_view()) {
        return Ok(false);
    }
    crate::ops::inplace::check_inplace(t)?;
    crate::ops::view::write_into(t, value)?;
    if graph {
        // Saved after the write, so a later in-place change of t makes backward refuse.
        rebase(t, &[t], Box::new(ResultBackward { y: Saved::output(t)?, rule }));
    }
    Ok(true)
}

struct ResultBackward {
    y: Saved,
    rule: ResultRule,
}

impl Backward for ResultBackward {
    fn name(&self) -> &'static str {
        self.rule.name()
    }
    fn apply(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let y = self.y.get()?;
        if is_recording() {
            return Ok(vec![Some(self.rule.graph(ex(g), ex(&y)).done()?)]);
        }
        let rule = self.rule;
        let d = with_float!(g.dtype(), self.rule.name(), T => zip::<T, T>(g, &y, self.rule.name(), move |g: T, y: T| rule.grad(g, y))?);
        Ok(vec![Some(d)])
    }
    fn differentiable(&self) -> bool {
        true
    }
}
