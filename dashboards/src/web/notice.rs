//! The notices the server shows after a form post (`?msg=` on `/admin` and `/account`). The
//! query carries a code, never text: a link cannot make the page say anything the server did
//! not write (a planted "请立即访问 … 重新输入密码" shows nothing).

use crate::auth::AccountProblem;

macro_rules! notices {
    ($($name:ident = $code:literal => $text:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Notice {
            $($name,)*
        }

        impl Notice {
            const ALL: &'static [Notice] = &[$(Notice::$name,)*];

            /// What goes into `?msg=`.
            pub fn code(self) -> &'static str {
                match self {
                    $(Notice::$name => $code,)*
                }
            }

            /// What the page shows.
            pub fn text(self) -> &'static str {
                match self {
                    $(Notice::$name => $text,)*
                }
            }
        }
    };
}

notices! {
    UserCreated = "user_created" => "用户已创建",
    UserDisabled = "user_disabled" => "用户已停用",
    UserEnabled = "user_enabled" => "用户已启用",
    PasswordReset = "password_reset" => "密码已重置",
    UnitSaved = "unit_saved" => "单位已保存",
    UserExists = "user_exists" => "用户名已存在",
    UnknownRole = "unknown_role" => "未知角色",
    UnknownUser = "unknown_user" => "用户不存在",
    CannotDisableSelf = "cannot_disable_self" => "不能停用当前登录账号",
    UnknownOperation = "unknown_operation" => "未知操作",
    UnitFieldsEmpty = "unit_fields_empty" => "编号和名称不能为空",
    UnitNotInRegistry = "unit_not_in_registry" => "单位不在单位名录中",
    UnitNameTooLong = "unit_name_too_long" => "单位名称最多 100 个字符",
    BadUserName = "bad_user_name" => "用户名须为 1-64 个字符，不含空白",
    ShortPassword = "short_password" => "密码至少 10 个字符",
    LongPassword = "long_password" => "密码最多 256 个字符",
    UnitAccountNeedsUnit = "unit_account_needs_unit" => "责任单位账号须选择所属单位",
    PasswordsDiffer = "passwords_differ" => "两次输入的新密码不一致",
    TooManyAttempts = "too_many_attempts" => "尝试次数过多，请稍后再试",
    WrongCurrentPassword = "wrong_password" => "当前密码不正确",
}

impl Notice {
    /// The notice a code names; `None` for anything else, which the page then ignores.
    pub fn from_code(code: &str) -> Option<Notice> {
        Notice::ALL.iter().copied().find(|n| n.code() == code)
    }

    /// The notice block for a page, empty when `msg` names no notice.
    pub fn html(msg: Option<&str>) -> String {
        msg.and_then(Notice::from_code)
            .map(|n| {
                format!(
                    r#"<p class="notice" role="status">{}</p>"#,
                    super::html::esc(n.text())
                )
            })
            .unwrap_or_default()
    }

    /// Back to `path` with this notice.
    pub fn redirect(self, path: &str) -> axum::response::Redirect {
        axum::response::Redirect::to(&format!("{path}?msg={}", self.code()))
    }
}

impl From<AccountProblem> for Notice {
    fn from(p: AccountProblem) -> Notice {
        match p {
            AccountProblem::BadName => Notice::BadUserName,
            AccountProblem::ShortPassword => Notice::ShortPassword,
            AccountProblem::LongPassword => Notice::LongPassword,
            AccountProblem::UnitWithoutUnitId => Notice::UnitAccountNeedsUnit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_plain() {
        let mut codes: Vec<&str> = Notice::ALL.iter().map(|n| n.code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Notice::ALL.len());
        for n in Notice::ALL {
            assert_eq!(Notice::from_code(n.code()), Some(*n));
        }
    }

    #[test]
    fn only_codes_become_notices() {
        assert!(Notice::html(Some("user_created")).contains("用户已创建"));
        for msg in [
            "请立即访问 http://evil.example 重新输入密码",
            "用户已创建",
            "USER_CREATED",
            "",
        ] {
            assert_eq!(Notice::html(Some(msg)), "", "{msg}");
        }
        assert_eq!(Notice::html(None), "");
    }
}
