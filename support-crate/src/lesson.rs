//! (being written)

/// Prints like Python 2's `print a, b, c` (being written).
#[macro_export]
macro_rules! pyprint {
    ($($arg:expr),* $(,)?) => {{ $( let _ = &$arg; )* }};
}
