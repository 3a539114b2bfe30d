//! N-API binding: converts types and errors, nothing else.
