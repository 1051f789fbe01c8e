//! Members (the organisations the authority exchanges documents with), their spaces,
//! and which clerks or teams look after them.

use crate::App;
use crate::audit::AuditEvent;
use crate::auth::accounts::select_accounts;
use crate::auth::actor::Actor;
use crate::db::{flag, is_unique_violation, like_pattern};
use crate::error::{Error, Result};
use crate::ids;

/// The one rule for which members a clerk looks after: assigned by name, or through a
/// team. Rows of `(member_id, account_id)`; every query that limits a clerk to their
/// members, or asks who looks after a member, selects from this and from nothing else.
macro_rules! looked_after {
    () => {
        "(SELECT member_id, account_id FROM clerk_assignments UNION SELECT ta.member_id, tm.account_id FROM team_assignments ta JOIN team_members tm ON tm.team_id = ta.team_id)"
    };
}
pub(crate) use looked_after;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub postal_address: String,
    pub emails: String,
    pub active: i64,
    pub created_at: i64,
    /// Mailboxes on the authority's side (e.g. a team's functional address) that hear
    /// of this member's deliveries, besides the assigned clerks.
    pub authority_emails: String,
}

impl Member {
    pub fn is_active(&self) -> bool {
        self.active != 0
    }
    pub fn email_list(&self) -> Vec<String> {
        self.emails
            .lines()
            .map(str::to_string)
            .filter(|e| !e.is_empty())
            .collect()
    }
    pub fn authority_email_list(&self) -> Vec<String> {
        self.authority_emails
            .lines()
            .map(str::to_string)
            .filter(|e| !e.is_empty())
            .collect()
    }
    /// "1001 Stadt Musterstadt": how staff see a member's space.
    pub fn label(&self) -> String {
        format!("{} {}", self.number, self.name)
    }
}

/// A member with its space, as listed for staff.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberListing {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub active: i64,
    pub space_id: i64,
    pub root_id: i64,
}

#[derive(Debug, Clone, Default)]
pub struct MemberInput {
    pub number: String,
    pub name: String,
    pub postal_address: String,
    pub emails: Vec<String>,
    pub authority_emails: Vec<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Team {
    pub id: i64,
    pub name: String,
}

struct ValidMember {
    number: String,
    name: String,
    address: String,
    emails: String,
    authority_emails: String,
}

fn validate(input: &MemberInput) -> Result<ValidMember> {
    let number = input.number.trim();
    if number.is_empty()
        || number.chars().count() > 32
        || !number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::Invalid("member number"));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid("member name"));
    }
    let address = input.postal_address.trim().replace("\r\n", "\n");
    if address.chars().count() > 1000 || address.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::Invalid("postal address"));
    }
    let mut emails = Vec::new();
    for e in &input.emails {
        if e.trim().is_empty() {
            continue;
        }
        emails.push(crate::auth::accounts::validate_email(e)?);
    }
    let mut authority_emails = Vec::new();
    for e in &input.authority_emails {
        if e.trim().is_empty() {
            continue;
        }
        authority_emails.push(crate::auth::accounts::validate_email(e)?);
    }
    let authority_emails = authority_emails.join("\n");
    if authority_emails.len() > 2000 {
        return Err(Error::Invalid("authority e-mail addresses"));
    }
    Ok(ValidMember {
        number: number.to_string(),
        name: name.to_string(),
        address,
        emails: emails.join("\n"),
        authority_emails,
    })
}

/// The reads of tenant data that the doors may make. Each goes through the gate: a
/// member the actor may not see is reported as not found, exactly like one that does
/// not exist, and the lists that only service staff keep need the admin act. The raw
/// queries below them are `pub(crate)`, so that no door can call them by mistake.
impl App {
    /// A member the actor may see.
    pub async fn member(&self, actor: &Actor, id: i64) -> Result<Member> {
        if !self.sees_member(actor, id).await? {
            return Err(Error::NotFound);
        }
        self.member_row(id).await?.ok_or(Error::NotFound)
    }

    /// A member the actor may see, by its number.
    pub async fn member_numbered(&self, actor: &Actor, number: &str) -> Result<Member> {
        let m = self
            .member_row_by_number(number)
            .await?
            .ok_or(Error::NotFound)?;
        self.member(actor, m.id).await
    }

    /// The space of a member the actor may see.
    pub async fn space_of_member(
        &self,
        actor: &Actor,
        member_id: i64,
    ) -> Result<crate::spaces::Space> {
        if !self.sees_member(actor, member_id).await? {
            return Err(Error::NotFound);
        }
        self.space_row_of_member(member_id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// A member's user accounts, for the service staff who keep them.
    pub async fn member_users(
        &self,
        actor: &Actor,
        member_id: i64,
    ) -> Result<Vec<crate::auth::accounts::Account>> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Accounts,
        )?;
        self.member(actor, member_id).await?;
        self.member_user_rows(member_id).await
    }

    /// The staff who look after a member, for the service staff who assign them.
    pub async fn assigned_clerks(
        &self,
        actor: &Actor,
        member_id: i64,
    ) -> Result<Vec<crate::auth::accounts::Account>> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Members,
        )?;
        self.member(actor, member_id).await?;
        self.assigned_clerk_rows(member_id).await
    }

    /// The teams, for the service staff who assign them.
    pub async fn teams(&self, actor: &Actor) -> Result<Vec<Team>> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Members,
        )?;
        self.team_rows().await
    }
}

impl App {
    pub(crate) async fn member_row(&self, id: i64) -> Result<Option<Member>> {
        Ok(self
            .db
            .qa::<Member>("SELECT id, number, name, postal_address, emails, active, created_at, authority_emails FROM members WHERE id = ?")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?)
    }

    pub(crate) async fn member_row_by_number(&self, number: &str) -> Result<Option<Member>> {
        Ok(self
            .db
            .qa::<Member>("SELECT id, number, name, postal_address, emails, active, created_at, authority_emails FROM members WHERE number = ?")
            .bind(number.trim().to_string())
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// Creates a member and its space with the template folders. Admins only.
    pub async fn create_member(&self, actor: &Actor, input: MemberInput) -> Result<Member> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Members,
        )?;
        let v = validate(&input)?;
        let id = ids::new_id();
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let inserted = self
            .db
            .q("INSERT INTO members (id, number, name, name_key, postal_address, emails, active, created_at, authority_emails) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)")
            .bind(id)
            .bind(v.number.clone())
            .bind(v.name.clone())
            .bind(v.name.to_lowercase())
            .bind(v.address)
            .bind(v.emails)
            .bind(now)
            .bind(v.authority_emails)
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
            other => other?,
        };
        self.create_space_in(&mut tx, actor, id).await?;
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "member.create", format!("member:{}", v.number)).member(id),
        )
        .await?;
        tx.commit().await?;
        self.member_row(id).await?.ok_or(Error::NotFound)
    }

    pub async fn update_member(
        &self,
        actor: &Actor,
        id: i64,
        input: MemberInput,
        active: bool,
    ) -> Result<()> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Members,
        )?;
        let existing = self.member_row(id).await?.ok_or(Error::NotFound)?;
        let v = validate(&input)?;
        let mut tx = self.db.begin_write().await?;
        let updated = self
            .db
            .q("UPDATE members SET number = ?, name = ?, name_key = ?, postal_address = ?, emails = ?, authority_emails = ?, active = ? WHERE id = ?")
            .bind(v.number.clone())
            .bind(v.name.clone())
            .bind(v.name.to_lowercase())
            .bind(v.address)
            .bind(v.emails)
            .bind(v.authority_emails)
            .bind(flag(active))
            .bind(id)
            .execute(&mut *tx)
            .await;
        match updated {
            Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
            other => other?,
        };
        let what = if existing.is_active() && !active {
            "member.deactivate"
        } else {
            "member.update"
        };
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, what, format!("member:{}", v.number)).member(id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_member_active(&self, actor: &Actor, number: &str, active: bool) -> Result<()> {
        let m = self
            .member_row_by_number(number)
            .await?
            .ok_or(Error::NotFound)?;
        let input = MemberInput {
            number: m.number.clone(),
            name: m.name.clone(),
            postal_address: m.postal_address.clone(),
            emails: m.email_list(),
            authority_emails: m.authority_email_list(),
        };
        self.update_member(actor, m.id, input, active).await
    }

    /// The members this actor may see, optionally filtered by number or name.
    pub async fn visible_members(&self, actor: &Actor, search: &str) -> Result<Vec<MemberListing>> {
        let pattern = like_pattern(&search.trim().to_lowercase());
        let all = self
            .db
            .qa::<MemberListing>("SELECT m.id, m.number, m.name, m.active, s.id AS space_id, s.root_id FROM members m JOIN spaces s ON s.member_id = m.id WHERE (LOWER(m.number) LIKE ? ESCAPE '!' OR m.name_key LIKE ? ESCAPE '!') ORDER BY m.number")
            .bind(pattern.clone())
            .bind(pattern)
            .fetch_all(self.db.pool())
            .await?;
        let ids: Vec<i64> = all.iter().map(|m| m.id).collect();
        let seen = self.seen_members(actor, &ids).await?;
        Ok(all.into_iter().filter(|m| seen.contains(&m.id)).collect())
    }

    /// Members assigned to a clerk directly or through a team.
    pub(crate) async fn assigned_member_ids(&self, account_id: i64) -> Result<Vec<i64>> {
        Ok(self
            .db
            .qs::<i64>(concat!(
                "SELECT la.member_id FROM ",
                looked_after!(),
                " la WHERE la.account_id = ?"
            ))
            .bind(account_id)
            .fetch_all(self.db.pool())
            .await?)
    }

    /// Staff accounts that look after a member (directly or through a team).
    pub(crate) async fn assigned_clerk_rows(
        &self,
        member_id: i64,
    ) -> Result<Vec<crate::auth::accounts::Account>> {
        Ok(self
            .db
            .qa::<crate::auth::accounts::Account>(select_accounts!(
                "WHERE kind = 'staff' AND id IN (SELECT la.account_id FROM ",
                looked_after!(),
                " la WHERE la.member_id = ?) ORDER BY login_key"
            ))
            .bind(member_id)
            .fetch_all(self.db.pool())
            .await?)
    }

    pub async fn assign_clerk(
        &self,
        actor: &Actor,
        login: &str,
        member_number: &str,
        assign: bool,
    ) -> Result<()> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Members,
        )?;
        let account = self
            .account_row_by_login(login)
            .await?
            .ok_or(Error::NotFound)?;
        if !account.is_staff() {
            return Err(Error::Invalid("not a staff account"));
        }
        let member = self
            .member_row_by_number(member_number)
            .await?
            .ok_or(Error::NotFound)?;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("DELETE FROM clerk_assignments WHERE member_id = ? AND account_id = ?")
            .bind(member.id)
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        if assign {
            self.db
                .q("INSERT INTO clerk_assignments (member_id, account_id) VALUES (?, ?)")
                .bind(member.id)
                .bind(account.id)
                .execute(&mut *tx)
                .await?;
        }
        let what = if assign {
            "assignment.add"
        } else {
            "assignment.remove"
        };
        self.audit(
            &mut *tx,
            AuditEvent::new(
                actor,
                what,
                format!("account:{} member:{}", account.login, member.number),
            )
            .member(member.id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_team(&self, actor: &Actor, name: &str) -> Result<Team> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Members,
        )?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::Invalid("team name"));
        }
        let id = ids::new_id();
        let mut tx = self.db.begin_write().await?;
        let inserted = self
            .db
            .q("INSERT INTO teams (id, name, name_key, created_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(name.to_string())
            .bind(name.to_lowercase())
            .bind(self.now())
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(Error::AlreadyExists),
            other => other?,
        };
        self.audit(
            &mut *tx,
            AuditEvent::new(actor, "team.create", format!("team:{name}")),
        )
        .await?;
        tx.commit().await?;
        Ok(Team {
            id,
            name: name.to_string(),
        })
    }

    pub(crate) async fn team_row_by_name(&self, name: &str) -> Result<Option<Team>> {
        Ok(self
            .db
            .qa::<Team>("SELECT id, name FROM teams WHERE name_key = ?")
            .bind(name.trim().to_lowercase())
            .fetch_optional(self.db.pool())
            .await?)
    }

    pub(crate) async fn team_rows(&self) -> Result<Vec<Team>> {
        Ok(self
            .db
            .qa::<Team>("SELECT id, name FROM teams ORDER BY name_key")
            .fetch_all(self.db.pool())
            .await?)
    }

    /// Adds a staff account to a team (or removes it).
    pub async fn set_team_membership(
        &self,
        actor: &Actor,
        team: &str,
        login: &str,
        member_of: bool,
    ) -> Result<()> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Members,
        )?;
        let team = self.team_row_by_name(team).await?.ok_or(Error::NotFound)?;
        let account = self
            .account_row_by_login(login)
            .await?
            .ok_or(Error::NotFound)?;
        if !account.is_staff() {
            return Err(Error::Invalid("not a staff account"));
        }
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("DELETE FROM team_members WHERE team_id = ? AND account_id = ?")
            .bind(team.id)
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        if member_of {
            self.db
                .q("INSERT INTO team_members (team_id, account_id) VALUES (?, ?)")
                .bind(team.id)
                .bind(account.id)
                .execute(&mut *tx)
                .await?;
        }
        let what = if member_of { "team.join" } else { "team.leave" };
        self.audit(
            &mut *tx,
            AuditEvent::new(
                actor,
                what,
                format!("team:{} account:{}", team.name, account.login),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes a team responsible for a member (or not).
    pub async fn assign_team(
        &self,
        actor: &Actor,
        team: &str,
        member_number: &str,
        assign: bool,
    ) -> Result<()> {
        crate::spaces::permissions::administer(
            actor,
            crate::spaces::permissions::AdminAct::Members,
        )?;
        let team = self.team_row_by_name(team).await?.ok_or(Error::NotFound)?;
        let member = self
            .member_row_by_number(member_number)
            .await?
            .ok_or(Error::NotFound)?;
        let mut tx = self.db.begin_write().await?;
        self.db
            .q("DELETE FROM team_assignments WHERE member_id = ? AND team_id = ?")
            .bind(member.id)
            .bind(team.id)
            .execute(&mut *tx)
            .await?;
        if assign {
            self.db
                .q("INSERT INTO team_assignments (member_id, team_id) VALUES (?, ?)")
                .bind(member.id)
                .bind(team.id)
                .execute(&mut *tx)
                .await?;
        }
        let what = if assign {
            "assignment.add"
        } else {
            "assignment.remove"
        };
        self.audit(
            &mut *tx,
            AuditEvent::new(
                actor,
                what,
                format!("team:{} member:{}", team.name, member.number),
            )
            .member(member.id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
