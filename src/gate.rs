//! Change control: whether the first step of a plan may start now. Pure: the policy, the
//! gitops object's annotations and labels, the step and the time come in; a hold or nothing
//! comes out. The controller adds the one stateful gate, the fleet budget.

pub mod window;
