package app

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/core/auth"
)

func cmdUser(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usageError{"expected add, list, disable, enable or passwd"}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add", "list", "disable", "enable", "passwd":
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
	}
	f := newFlags(env, "user "+sub, "[flags]", "Manage staff accounts (server stopped, or use the admin pages).\n"+
		"Without --password-stdin a strong password is generated and printed once.")
	email := f.String("email", "", "the user's email (sign-in name)")
	name := f.String("name", "", "display name")
	role := f.String("role", string(core.RoleAgent), "admin, manager, agent or viewer")
	pwStdin := f.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := f.parse(args); err != nil {
		return err
	}
	a, err := f.openStoreOnly(ctx, env)
	if err != nil {
		return err
	}
	defer a.Store.Close()
	now := time.Now().UTC()

	password := func() (string, bool, error) {
		if *pwStdin {
			line, err := bufio.NewReader(env.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return "", false, fmt.Errorf("reading the password from standard input: %w", err)
			}
			return strings.TrimRight(line, "\r\n"), false, nil
		}
		s, err := auth.NewSecret(15)
		return s, true, err
	}

	switch sub {
	case "add":
		pw, generated, err := password()
		if err != nil {
			return err
		}
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return err
		}
		u := core.User{Email: *email, Name: *name, Role: core.Role(*role), PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		if err := u.Normalize(); err != nil {
			return err
		}
		u, err = a.Store.CreateUser(ctx, u)
		if err != nil {
			return err
		}
		if err := cliAudit(ctx, a.Store, "user add", "user="+u.ID.String(), fmt.Sprintf("%s created as %s", u.Email, u.Role)); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "user %s created (id %s, role %s)\n", u.Email, u.ID, u.Role)
		if generated {
			fmt.Fprintf(env.Stdout, "password: %s\n(shown once; change it after signing in)\n", pw)
		}
	case "list":
		us, err := a.Store.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLE\tDISABLED\tLAST SIGN-IN")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", u.ID, u.Email, u.Name, u.Role, u.Disabled, fmtTime(u.LastLoginAt))
		}
		return tw.Flush()
	case "disable", "enable", "passwd":
		u, err := a.Store.GetUserByEmail(ctx, strings.ToLower(strings.TrimSpace(*email)))
		if err != nil {
			return err
		}
		var pw string
		var generated bool
		if sub == "passwd" {
			if pw, generated, err = password(); err != nil {
				return err
			}
		}
		var hash string
		if pw != "" {
			if hash, err = auth.HashPassword(pw); err != nil {
				return err
			}
		}
		if _, err := a.Store.UpdateUser(ctx, u.ID, func(u *core.User) error {
			switch sub {
			case "disable":
				u.Disabled = true
			case "enable":
				u.Disabled = false
			case "passwd":
				u.PasswordHash = hash
			}
			u.UpdatedAt = now
			return nil
		}); err != nil {
			return err
		}
		detail := u.Email + ": " + map[string]string{"disable": "disabled", "enable": "enabled", "passwd": "password reset"}[sub]
		// Disabling and a new password take effect at once: the user's
		// browser sessions end (the server re-reads them on every request).
		if sub == "disable" || sub == "passwd" {
			n, err := a.Store.DeleteUserSessions(ctx, u.ID)
			if err != nil {
				return err
			}
			detail += fmt.Sprintf("; %d session(s) ended", n)
		}
		if err := cliAudit(ctx, a.Store, "user "+sub, "user="+u.ID.String(), detail); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "user %s: %s done\n", u.Email, sub)
		if generated {
			fmt.Fprintf(env.Stdout, "password: %s\n(shown once)\n", pw)
		}
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
	}
	return nil
}

func cmdToken(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usageError{"expected create, list or revoke"}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create", "list", "revoke":
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
	}
	scopeNames := make([]string, len(core.Scopes))
	for i, s := range core.Scopes {
		scopeNames[i] = string(s)
	}
	f := newFlags(env, "token "+sub, "[flags]", "Manage API bearer tokens (server stopped, or use the admin API).")
	name := f.String("name", "", "what the token is for")
	scopes := f.String("scopes", "", "comma-separated: "+strings.Join(scopeNames, ", "))
	expires := f.Duration("expires", 0, "lifetime, e.g. 720h (0: no expiry)")
	id := f.String("id", "", "token id (for revoke)")
	if err := f.parse(args); err != nil {
		return err
	}
	a, err := f.openStoreOnly(ctx, env)
	if err != nil {
		return err
	}
	defer a.Store.Close()
	now := time.Now().UTC()
	switch sub {
	case "create":
		sc, err := core.ParseScopes(*scopes)
		if err != nil {
			return err
		}
		if strings.TrimSpace(*name) == "" {
			return usageError{"--name is required"}
		}
		secret, prefix, hash, err := auth.NewToken()
		if err != nil {
			return err
		}
		t := core.Token{Name: strings.TrimSpace(*name), Prefix: prefix, Hash: hash, Scopes: sc, CreatedAt: now}
		if *expires > 0 {
			t.ExpiresAt = now.Add(*expires)
		}
		t, err = a.Store.CreateToken(ctx, t)
		if err != nil {
			return err
		}
		if err := cliAudit(ctx, a.Store, "token create", "token="+t.ID.String(), fmt.Sprintf("%q scopes %s", t.Name, *scopes)); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "token %s (%s) created with scopes %s; the secret is shown once:\n", t.ID, t.Name, *scopes)
		fmt.Fprintln(env.Stdout, secret)
	case "list":
		ts, err := a.Store.ListTokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tSCOPES\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
		for _, t := range ts {
			sc := make([]string, len(t.Scopes))
			for i, s := range t.Scopes {
				sc[i] = string(s)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Prefix, strings.Join(sc, ","),
				fmtTime(t.CreatedAt), fmtTime(t.LastUsedAt), fmtTime(t.ExpiresAt), fmtTime(t.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		tid, err := core.ParseID(*id)
		if err != nil {
			return usageError{"--id: " + err.Error()}
		}
		t, err := a.Store.UpdateToken(ctx, tid, func(t *core.Token) error {
			if t.RevokedAt.IsZero() {
				t.RevokedAt = now
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := cliAudit(ctx, a.Store, "token revoke", "token="+tid.String(), t.Prefix+"… "+t.Name); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "token %s revoked\n", tid)
	default:
		return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// cliAudit records a change made from the command line in the audit log,
// next to the ones made through the web (actor "cli", kind "system").
func cliAudit(ctx context.Context, st core.Audit, action, target, detail string) error {
	_, err := st.AppendAudit(ctx, core.AuditEntry{At: time.Now().UTC(), ActorKind: "system", Actor: "cli",
		Action: action, Target: target, Detail: detail})
	if err != nil {
		return fmt.Errorf("the change is made but the audit log could not be written: %w", err)
	}
	return nil
}
