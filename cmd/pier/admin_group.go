package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"pier/authz"
	"pier/identity"
)

const groupUsage = `Usage: pier group COMMAND [--data DIR] [--db URL] [--storage URL] ARGS

  add NAME [--description D]    create an empty group
  list [--json]                 list groups with their members
  delete NAME                   remove a group, its memberships and its grants
  member add NAME (--user LOGIN | --org SLUG [--descendants] | --role ROLE@SLUG [--descendants])
  member remove NAME (same flags)
`

func groupCmd(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "group", groupUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": groupAdd, "list": groupList, "delete": groupDelete, "member": groupMember,
	})
}

func groupAdd(ctx context.Context, args []string, io stdio) error {
	var desc, owner string
	a, pos, err := openCommand(ctx, io, "group add", "NAME [--description D] [--owner SLUG]", 1, args, func(fs *flag.FlagSet) {
		fs.StringVar(&desc, "description", "", "what the group is for")
		fs.StringVar(&owner, "owner", "", "the organisation whose administrators manage the group (default: only super administrators)")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.ops.AddGroup(ctx, a.actor(ctx), pos[0], desc, owner); err != nil {
		return fmt.Errorf("group add: %w", fields(err, "owner"))
	}
	fmt.Fprintf(a.out, "group %s created\n", pos[0])
	return nil
}

func groupList(ctx context.Context, args []string, io stdio) error {
	var asJSON bool
	a, _, err := openCommand(ctx, io, "group list", "[--json]", 0, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	out, err := a.ops.ListGroups(ctx, a.actor(ctx))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(a.out, out)
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMEMBERS\tDESCRIPTION")
	for _, g := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Name, orNone(strings.Join(g.Members, " ")), dash(g.Description))
	}
	return tw.Flush()
}

func groupDelete(ctx context.Context, args []string, io stdio) error {
	a, pos, err := openCommand(ctx, io, "group delete", "NAME", 1, args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.ops.DeleteGroup(ctx, a.actor(ctx), pos[0]); err != nil {
		return fmt.Errorf("group delete: %w", err)
	}
	fmt.Fprintf(a.out, "group %s deleted\n", pos[0])
	return nil
}

const memberUsage = `Usage: pier group member add|remove NAME (--user LOGIN | --org SLUG [--descendants] | --role ROLE@SLUG [--descendants])
`

func groupMember(ctx context.Context, args []string, io stdio) error {
	return subcommands(ctx, "group member", memberUsage, args, io, map[string]func(context.Context, []string, stdio) error{
		"add": memberCmd("add"), "remove": memberCmd("remove"),
	})
}

// memberFlags name one member of a group.
type memberFlags struct {
	user, org, role string
	descendants     bool
}

func (f *memberFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.user, "user", "", "a user, by login")
	fs.StringVar(&f.org, "org", "", "the users of an organisation, by slug")
	fs.StringVar(&f.role, "role", "", "the users with a role in an organisation, ROLE@SLUG")
	fs.BoolVar(&f.descendants, "descendants", false, "with --org or --role: include the organisations below")
}

// subject turns the flags into a member in subject syntax.
func (f *memberFlags) subject(cmd string) (authz.Subject, error) {
	if err := oneOf(cmd, map[string]bool{"user": f.user != "", "org": f.org != "", "role": f.role != ""}); err != nil {
		return authz.Subject{}, err
	}
	var s, flagName string
	switch {
	case f.user != "":
		if f.descendants {
			return authz.Subject{}, usageError{cmd + ": --descendants goes with --org or --role"}
		}
		s, flagName = "user:"+f.user, "user"
	case f.org != "":
		s, flagName = "org:"+f.org, "org"
	default:
		if !strings.Contains(f.role, "@") {
			return authz.Subject{}, fmt.Errorf("--role: %q needs an organisation, as in buyer@acme", clipArg(f.role))
		}
		s, flagName = "role:"+f.role, "role"
	}
	if f.descendants {
		s += "+sub"
	}
	m, err := identity.ParseMember(s)
	return m, flagErr(flagName, err)
}

func memberCmd(verb string) func(context.Context, []string, stdio) error {
	return func(ctx context.Context, args []string, io stdio) error {
		var f memberFlags
		name := "group member " + verb
		cfg, pos, err := parseAdmin(name, "NAME (--user L | --org SLUG [--descendants] | --role R@SLUG [--descendants])", 1, args, f.register)
		if err != nil {
			return err
		}
		m, err := f.subject(name)
		if err != nil {
			return err
		}
		a, err := openAdmin(ctx, cfg, io)
		if err != nil {
			return err
		}
		defer a.Close()
		if verb == "add" {
			err = a.ops.AddMember(ctx, a.actor(ctx), pos[0], m.String())
		} else {
			err = a.ops.RemoveMember(ctx, a.actor(ctx), pos[0], m.String())
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(a.out, "group %s: %s %s\n", pos[0], m, map[string]string{"add": "added", "remove": "removed"}[verb])
		return nil
	}
}
