//! Inside `explore`, processes are named as the exploring process would name them, in every
//! run, and the runs use up none of its names. (A file of its own: other tests creating
//! processes at the same time would move the numbers.)

use multiproc::prelude::*;

#[test]
fn runs_name_processes_like_the_exploring_process() {
    let outcomes = Explore::runs(3).quiet().run(|| {
        let child = Process::new(|| {});
        format!("{} {}", current_process().name(), child.get_name())
    });
    assert_eq!(outcomes.distinct(), 1, "{outcomes}");
    let next = Process::new(|| {});
    assert_eq!(outcomes.count(&format!("MainProcess {}", next.get_name())), 3, "{outcomes}");
}
