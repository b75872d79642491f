//! What an option is (its kind and declaration), how its text becomes a
//! field's value, and [`config_section!`], which declares a section's options
//! once and derives everything else from that.

use std::marker::PhantomData;

/// The kind of value an option holds, as oslo.config types it.
#[derive(Clone, Copy, Debug)]
pub enum OptKind {
    Str,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
    },
    Bool,
    List,
    Choice(&'static [&'static str]),
    /// A list whose every item must be one of these.
    ListOf(&'static [&'static str]),
}

/// One option as oslo.config declares it.
#[derive(Debug)]
pub struct OptDef {
    pub section: &'static str,
    pub name: &'static str,
    /// The section the option used to live in (oslo's `deprecated_group`):
    /// read from there, with a warning, when its own section does not set it.
    pub deprecated_section: Option<&'static str>,
    pub kind: OptKind,
    /// The default as it would be written in the file; `$var` is substituted.
    pub default: &'static str,
    pub help: &'static str,
}

/// An [`OptKind`] tied to the type of the field it fills: a row whose kind
/// does not fit its field, or whose range does not fit its integer type,
/// does not compile.
pub(crate) struct Kind<T>(OptKind, PhantomData<fn() -> T>);

impl<T> Kind<T> {
    pub(crate) const fn untyped(self) -> OptKind {
        self.0
    }
}

const fn kind<T>(k: OptKind) -> Kind<T> {
    Kind(k, PhantomData)
}

pub(crate) const fn string() -> Kind<String> {
    kind(OptKind::Str)
}

/// A string where empty means unset.
pub(crate) const fn optional_string() -> Kind<Option<String>> {
    kind(OptKind::Str)
}

pub(crate) const fn choice(choices: &'static [&'static str]) -> Kind<String> {
    kind(OptKind::Choice(choices))
}

pub(crate) const fn boolean() -> Kind<bool> {
    kind(OptKind::Bool)
}

pub(crate) const fn float(min: f64) -> Kind<f64> {
    kind(OptKind::Float { min })
}

pub(crate) const fn list() -> Kind<Vec<String>> {
    kind(OptKind::List)
}

pub(crate) const fn list_of(items: &'static [&'static str]) -> Kind<Vec<String>> {
    kind(OptKind::ListOf(items))
}

pub(crate) const fn int<T: Integer>(min: i64, max: i64) -> Kind<T> {
    assert!(
        T::MIN <= min && min <= max && max <= T::MAX,
        "the range does not fit the field's integer type"
    );
    kind(OptKind::Int { min, max })
}

/// An integer from `min` up to what the field's type holds.
pub(crate) const fn at_least<T: Integer>(min: i64) -> Kind<T> {
    int(min, T::MAX)
}

pub(crate) const fn port() -> Kind<u16> {
    int(0, 65535)
}

/// The integer types a field may have, with the part of `i64` each holds.
pub(crate) trait Integer: TryFrom<i64> {
    const MIN: i64;
    const MAX: i64;
}

/// How the text of an option (file value or default, `$var` substituted)
/// becomes the value of its field.
pub(crate) trait FromOpt: Sized {
    fn from_opt(text: &str, kind: OptKind) -> Result<Self, String>;
}

fn one_of(v: &str, choices: &[&str]) -> Result<(), String> {
    if choices.contains(&v) {
        Ok(())
    } else {
        Err(format!("{v:?} is not one of {}", choices.join(", ")))
    }
}

impl FromOpt for String {
    fn from_opt(text: &str, kind: OptKind) -> Result<Self, String> {
        if let OptKind::Choice(choices) = kind {
            one_of(text, choices)?;
        }
        Ok(text.to_string())
    }
}

impl FromOpt for Option<String> {
    fn from_opt(text: &str, _: OptKind) -> Result<Self, String> {
        Ok((!text.is_empty()).then(|| text.to_string()))
    }
}

impl FromOpt for bool {
    fn from_opt(text: &str, _: OptKind) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{text:?} is not a boolean")),
        }
    }
}

impl FromOpt for f64 {
    fn from_opt(text: &str, kind: OptKind) -> Result<Self, String> {
        let n: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a number"))?;
        match kind {
            OptKind::Float { min } if n < min => Err(format!("{n} is below {min}")),
            _ => Ok(n),
        }
    }
}

impl FromOpt for Vec<String> {
    fn from_opt(text: &str, kind: OptKind) -> Result<Self, String> {
        let items: Vec<String> = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if let OptKind::ListOf(allowed) = kind {
            for item in &items {
                one_of(item, allowed)?;
            }
        }
        Ok(items)
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl Integer for $t {
            const MIN: i64 = <$t>::MIN as i64;
            const MAX: i64 = if <$t>::MAX as u128 > i64::MAX as u128 {
                i64::MAX
            } else {
                <$t>::MAX as i64
            };
        }

        impl FromOpt for $t {
            fn from_opt(text: &str, kind: OptKind) -> Result<Self, String> {
                let n: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{text:?} is not an integer"))?;
                if let OptKind::Int { min, max } = kind {
                    if n < min || n > max {
                        return Err(format!("{n} is outside the range {min}..={max}"));
                    }
                }
                Self::try_from(n).map_err(|_| format!("{n} does not fit in {}", stringify!($t)))
            }
        }
    )*};
}

integers!(i64, u64, u32, u16, usize);

/// Declares a section once. Each row is one option:
///
/// ```text
/// /// Help text, shown in the sample file and in rustdoc.
/// name: RustType = "default as written in a file", kind;
/// ```
///
/// and generates the struct (one `pub` field per row), `OPTS` (the option
/// table behind validation, defaults, unknown-option warnings and the sample
/// file) and `read`, which fills the struct from the files. A row written
/// `name in "group": ...` lives in another INI group than the struct's, as
/// `[wsgi] max_request_body_size` does for `ApiSection`.
///
/// `pub map Name<T> in "group" { /// help  name = "default", kind; ... }`
/// declares options that are read into a `BTreeMap<String, T>` by name
/// (`[quota]`), with `NAMES` listing them in order.
macro_rules! config_section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $group:literal {
            $(
                $(#[doc = $help:literal])+
                $field:ident $(in $in:literal)? $(was $old:literal)?: $ty:ty = $default:literal, $kind:expr;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name {
            $(
                $(#[doc = $help])+
                pub $field: $ty,
            )*
        }

        impl $name {
            /// This section's options, in the order the sample file lists them.
            pub const OPTS: &'static [$crate::config::OptDef] = &[$(
                $crate::config::OptDef {
                    section: $crate::config::opt::config_section!(@group $group $($in)?),
                    name: stringify!($field),
                    deprecated_section: $crate::config::opt::config_section!(@was $($old)?),
                    kind: $crate::config::opt::Kind::<$ty>::untyped($kind),
                    default: $default,
                    help: concat!($($help),+),
                },
            )*];

            pub(crate) fn read(
                r: &$crate::config::Reader<'_>,
            ) -> Result<Self, $crate::config::ConfigError> {
                Ok(Self {
                    $($field: r.get(Self::OPTS, stringify!($field))?,)*
                })
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub map $name:ident<$ty:ty> in $group:literal {
            $(
                $(#[doc = $help:literal])+
                $field:ident = $default:literal, $kind:expr;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name;

        impl $name {
            /// This section's options, in the order the sample file lists them.
            pub const OPTS: &'static [$crate::config::OptDef] = &[$(
                $crate::config::OptDef {
                    section: $group,
                    name: stringify!($field),
                    deprecated_section: None,
                    kind: $crate::config::opt::Kind::<$ty>::untyped($kind),
                    default: $default,
                    help: concat!($($help),+),
                },
            )*];

            /// The option names, in order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            pub(crate) fn read(
                r: &$crate::config::Reader<'_>,
            ) -> Result<std::collections::BTreeMap<String, $ty>, $crate::config::ConfigError> {
                Self::OPTS
                    .iter()
                    .map(|o| Ok((o.name.to_string(), r.get(Self::OPTS, o.name)?)))
                    .collect()
            }
        }
    };
    (@group $group:literal) => {
        $group
    };
    (@was) => {
        None
    };
    (@was $old:literal) => {
        Some($old)
    };
    (@group $group:literal $in:literal) => {
        $in
    };
}

pub(crate) use config_section;
