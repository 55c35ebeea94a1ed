//! Closed sets of strings as enums: [`string_enum!`] gives a set its variants, serialized (and
//! parsed, from rows and requests) as exactly the API's strings, with `as_str` for SQL.

/// A value outside a closed set (one type for every set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub set: &'static str,
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}", self.set, self.value)
    }
}

impl std::error::Error for UnknownValue {}

/// A stored value outside its set is a decoding error of the row.
impl From<UnknownValue> for sqlx::Error {
    fn from(e: UnknownValue) -> sqlx::Error {
        sqlx::Error::Decode(Box::new(e))
    }
}

/// `string_enum!(/// doc, Name, "set name" { Variant = "text", ... })`: the enum with serde
/// and OpenAPI as those strings, `ALL`, `NAMES` (for validators), `as_str`, `FromStr` and
/// `Display`.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $set:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The strings of the set, in their order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::string_enum::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::domain::string_enum::UnknownValue { set: $set, value: s.to_string() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;
