package audit

import "context"

type actorKey struct{}

// WithActor says who acts in ctx, for the records of the changes made with
// it: the CLI says "cli:OSUSER", the admin API the token's owner.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns who acts in ctx, "system" when nobody said.
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}
