//! Who is acting. Every use-case takes an `Actor`; doors build it from a session,
//! WebDAV credentials or the command line.

use crate::settings::Side;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    Admin,
    Clerk,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Admin => "admin",
            StaffRole::Clerk => "clerk",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(StaffRole::Admin),
            "clerk" => Some(StaffRole::Clerk),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Staff {
        id: i64,
        role: StaffRole,
        name: String,
    },
    MemberUser {
        id: i64,
        member_id: i64,
        name: String,
    },
    /// The admin command line, acting with admin rights; audited as `cli:<os user>`.
    Cli { os_user: String },
}

impl Actor {
    pub fn side(&self) -> Side {
        match self {
            Actor::Staff { .. } | Actor::Cli { .. } => Side::Authority,
            Actor::MemberUser { .. } => Side::Member,
        }
    }
    pub fn account_id(&self) -> Option<i64> {
        match self {
            Actor::Staff { id, .. } | Actor::MemberUser { id, .. } => Some(*id),
            Actor::Cli { .. } => None,
        }
    }
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Actor::Staff {
                role: StaffRole::Admin,
                ..
            } | Actor::Cli { .. }
        )
    }
    pub fn is_staff(&self) -> bool {
        matches!(self, Actor::Staff { .. } | Actor::Cli { .. })
    }
    pub fn label(&self) -> String {
        match self {
            Actor::Staff { name, .. } | Actor::MemberUser { name, .. } => name.clone(),
            Actor::Cli { os_user } => format!("cli:{os_user}"),
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Staff { .. } => "staff",
            Actor::MemberUser { .. } => "member",
            Actor::Cli { .. } => "cli",
        }
    }
}
