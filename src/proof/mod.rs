//! The proof pack: the files in `runs/<id>/` that let a reviewer check a run without trusting it.

pub mod kind;
pub mod patch;
pub mod pr;
pub mod pr_change;
pub mod score;
pub mod smoke;
pub mod store;
pub mod summary;
pub mod test_counts;
pub mod timeline;
