//! JS values in and out. Inputs become the core's `Input` (so validation can
//! name `undefined`, NaN or a function exactly); outputs go through serde.

use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, Unknown};
use napi::JsValue;
use napi::{sys, Env, Error, Result, Status};
use script_sandbox_core::input::Input;

/// Bounds for hostile input: deep nesting or a huge shared-object graph
/// fails with an error instead of exhausting the stack or the CPU.
const MAX_DEPTH: u32 = 64;
const MAX_NODES: usize = 100_000;

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(
            Status::from(status),
            format!("cannot read input: {what}"),
        ))
    }
}

/// Read any JS value into an `Input`. Object keys whose value is `undefined`
/// are dropped, which is exactly "absent" for every optional field.
pub fn to_input(env: &Env, value: &Unknown) -> Result<Input> {
    let mut budget = MAX_NODES;
    // SAFETY: `value` is a live handle in `env`'s current scope.
    unsafe { read(env.raw(), value.raw(), MAX_DEPTH, &mut budget) }
}

unsafe fn read(
    env: sys::napi_env,
    v: sys::napi_value,
    depth: u32,
    budget: &mut usize,
) -> Result<Input> {
    if *budget == 0 {
        return Err(Error::new(
            Status::InvalidArg,
            "input is too large".to_string(),
        ));
    }
    *budget -= 1;
    let mut ty = 0;
    check(unsafe { sys::napi_typeof(env, v, &mut ty) }, "typeof")?;
    Ok(match ty {
        sys::ValueType::napi_undefined => Input::Undefined,
        sys::ValueType::napi_null => Input::Null,
        sys::ValueType::napi_boolean => Input::Bool(unsafe { bool::from_napi_value(env, v)? }),
        sys::ValueType::napi_number => Input::Number(unsafe { f64::from_napi_value(env, v)? }),
        sys::ValueType::napi_string => Input::String(unsafe { String::from_napi_value(env, v)? }),
        sys::ValueType::napi_object => {
            if depth == 0 {
                return Err(Error::new(
                    Status::InvalidArg,
                    "input is nested too deeply".to_string(),
                ));
            }
            let mut is_array = false;
            check(
                unsafe { sys::napi_is_array(env, v, &mut is_array) },
                "isArray",
            )?;
            if is_array {
                let mut len = 0u32;
                check(
                    unsafe { sys::napi_get_array_length(env, v, &mut len) },
                    "array length",
                )?;
                if len as usize > *budget {
                    return Err(Error::new(
                        Status::InvalidArg,
                        "input is too large".to_string(),
                    ));
                }
                let mut items = Vec::with_capacity(len as usize);
                for i in 0..len {
                    let mut item = ptr::null_mut();
                    check(
                        unsafe { sys::napi_get_element(env, v, i, &mut item) },
                        "array element",
                    )?;
                    items.push(unsafe { read(env, item, depth - 1, budget)? });
                }
                return Ok(Input::Array(items));
            }
            if let Some(bytes) = unsafe { read_bytes(env, v)? } {
                return Ok(Input::Bytes(bytes));
            }
            if !unsafe { is_plain_object(env, v)? } {
                return Ok(Input::Other("object that is not a plain object".into()));
            }
            let mut names = ptr::null_mut();
            check(
                unsafe {
                    sys::napi_get_all_property_names(
                        env,
                        v,
                        sys::KeyCollectionMode::own_only,
                        sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
                        sys::KeyConversion::numbers_to_strings,
                        &mut names,
                    )
                },
                "property names",
            )?;
            let mut len = 0u32;
            check(
                unsafe { sys::napi_get_array_length(env, names, &mut len) },
                "property count",
            )?;
            let mut entries = Vec::with_capacity(len as usize);
            for i in 0..len {
                let mut key = ptr::null_mut();
                check(
                    unsafe { sys::napi_get_element(env, names, i, &mut key) },
                    "property name",
                )?;
                let key_str = unsafe { String::from_napi_value(env, key)? };
                let mut val = ptr::null_mut();
                check(
                    unsafe { sys::napi_get_property(env, v, key, &mut val) },
                    "property value",
                )?;
                let item = unsafe { read(env, val, depth - 1, budget)? };
                if item != Input::Undefined {
                    entries.push((key_str, item));
                }
            }
            Input::Object(entries)
        }
        sys::ValueType::napi_function => Input::Other("function".into()),
        sys::ValueType::napi_symbol => Input::Other("symbol".into()),
        sys::ValueType::napi_bigint => Input::Other("bigint".into()),
        _ => Input::Other("external".into()),
    })
}

/// True for `{...}` literals and `Object.create(null)`: a Date, Map, class
/// instance or Proxy-wrapped exotic is not a policy, whatever its own keys.
unsafe fn is_plain_object(env: sys::napi_env, v: sys::napi_value) -> Result<bool> {
    let mut proto = ptr::null_mut();
    check(
        unsafe { sys::napi_get_prototype(env, v, &mut proto) },
        "prototype",
    )?;
    let mut ty = 0;
    check(
        unsafe { sys::napi_typeof(env, proto, &mut ty) },
        "typeof prototype",
    )?;
    if ty == sys::ValueType::napi_null {
        return Ok(true);
    }
    let mut global = ptr::null_mut();
    check(unsafe { sys::napi_get_global(env, &mut global) }, "global")?;
    let mut object_ctor = ptr::null_mut();
    check(
        unsafe { sys::napi_get_named_property(env, global, c"Object".as_ptr(), &mut object_ctor) },
        "Object",
    )?;
    let mut object_proto = ptr::null_mut();
    check(
        unsafe {
            sys::napi_get_named_property(env, object_ctor, c"prototype".as_ptr(), &mut object_proto)
        },
        "Object.prototype",
    )?;
    let mut same = false;
    check(
        unsafe { sys::napi_strict_equals(env, proto, object_proto, &mut same) },
        "prototype check",
    )?;
    Ok(same)
}

/// Buffer / Uint8Array contents, or `None` for any other object.
unsafe fn read_bytes(env: sys::napi_env, v: sys::napi_value) -> Result<Option<Vec<u8>>> {
    let mut is_typed = false;
    check(
        unsafe { sys::napi_is_typedarray(env, v, &mut is_typed) },
        "isTypedArray",
    )?;
    if !is_typed {
        return Ok(None);
    }
    let mut kind = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    check(
        unsafe {
            sys::napi_get_typedarray_info(
                env,
                v,
                &mut kind,
                &mut len,
                &mut data,
                &mut buffer,
                &mut offset,
            )
        },
        "typed array",
    )?;
    if kind != sys::TypedarrayType::uint8_array {
        return Ok(None);
    }
    if len == 0 || data.is_null() {
        return Ok(Some(Vec::new()));
    }
    // SAFETY: N-API guarantees `data` points at `len` bytes for this view.
    Ok(Some(
        unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec(),
    ))
}

/// Input (already validated as JSON-like) to `serde_json::Value`.
pub fn input_to_json(input: &Input) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match input {
        Input::Null => Value::Null,
        Input::Bool(b) => Value::Bool(*b),
        Input::Number(n) => serde_json::Number::from_f64(*n)
            .map(|num| {
                // Integral values stay integers, so `u64` fields deserialize.
                if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
                    if *n >= 0.0 {
                        Value::from(*n as u64)
                    } else {
                        Value::from(*n as i64)
                    }
                } else {
                    Value::Number(num)
                }
            })
            .ok_or_else(|| format!("{n} is not a finite number"))?,
        Input::String(s) => Value::String(s.clone()),
        Input::Array(items) => Value::Array(
            items
                .iter()
                .map(input_to_json)
                .collect::<std::result::Result<_, _>>()?,
        ),
        Input::Object(entries) => {
            let mut map = serde_json::Map::new();
            for (k, v) in entries {
                map.insert(k.clone(), input_to_json(v)?);
            }
            Value::Object(map)
        }
        other => return Err(format!("{} cannot be represented here", other.type_name())),
    })
}

/// Any serializable core value to a JS value.
pub fn to_js<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| {
        Error::new(
            Status::GenericFailure,
            format!("cannot convert result: {e}"),
        )
    })
}
