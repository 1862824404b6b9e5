//! Supervising every process a cell starts: output routing, exits, interrupts, cleanup.
//! (The evaluation helper implements it.)
