package daemon

import (
	"context"

	"github.com/moby/moby/api/types/registry"

	"github.com/berthd/berth/pkg/registryauth"
)

// AuthenticateToRegistry answers POST /auth by logging in to the registry.
func (d *Daemon) AuthenticateToRegistry(ctx context.Context, auth *registry.AuthConfig) (string, string, error) {
	token, err := registryauth.Login(ctx, registryauth.Credentials{
		Username:      auth.Username,
		Password:      auth.Password,
		ServerAddress: auth.ServerAddress,
		IdentityToken: auth.IdentityToken,
	}, registryauth.Options{Insecure: d.Config().InsecureRegistries})
	if err != nil {
		return "", "", err
	}
	return "Login Succeeded", token, nil
}
