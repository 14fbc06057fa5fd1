//! Model calls: what each run asked of which model, how many tokens it took, what it cost.

pub mod calls;
pub mod pricing;
