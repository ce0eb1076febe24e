package iamapi

import (
	"context"

	"github.com/kmsd/kmsd/internal/identity"
)

type xmlRole struct {
	Path                     string           `xml:"Path"`
	RoleName                 string           `xml:"RoleName"`
	RoleID                   string           `xml:"RoleId"`
	Arn                      string           `xml:"Arn"`
	CreateDate               string           `xml:"CreateDate"`
	AssumeRolePolicyDocument string           `xml:"AssumeRolePolicyDocument"`
	Description              string           `xml:"Description,omitempty"`
	MaxSessionDuration       int              `xml:"MaxSessionDuration"`
	Tags                     *members[xmlTag] `xml:"Tags,omitempty"`
}

// toXMLRole writes a role as IAM does, its trust policy percent-encoded.
func toXMLRole(r *identity.Role, withTags bool) xmlRole {
	x := xmlRole{Path: r.Path, RoleName: r.RoleName, RoleID: r.RoleID, Arn: r.ARN(), CreateDate: xmlTime(r.Created),
		AssumeRolePolicyDocument: urlEncode(r.AssumeRolePolicyDocument), Description: r.Description,
		MaxSessionDuration: r.MaxSessionDuration}
	if withTags {
		x.Tags = xmlTags(r.Tags)
	}
	return x
}

type roleResult struct {
	Role xmlRole `xml:"Role"`
}

type listRolesResult struct {
	Roles       members[xmlRole] `xml:"Roles"`
	IsTruncated bool             `xml:"IsTruncated"`
	Marker      string           `xml:"Marker,omitempty"`
}

func roleARNFor(account, name string) string { return "arn:aws:iam::" + account + ":role/" + name }

func (c *call) roleName() string {
	return c.p.str("RoleName", true, 1, 64, patternName, validName)
}

func (c *call) document(name string) string {
	return c.p.str(name, true, 1, 131072, patternDoc, validDocument)
}

func createRole(ctx context.Context, h *Handler, c *call) (any, error) {
	in := identity.CreateRoleInput{
		RoleName:                 c.roleName(),
		Path:                     c.p.str("Path", false, 1, 512, patternPath, identity.ValidPath),
		AssumeRolePolicyDocument: c.document("AssumeRolePolicyDocument"),
		Description:              c.p.str("Description", false, 0, 1000, `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`, validDocument),
		MaxSessionDuration:       c.p.num("MaxSessionDuration", identity.DefaultSessionDuration, identity.MaxSessionDuration),
		Tags:                     c.p.tags(),
	}
	if c.p.v.Has("PermissionsBoundary") {
		c.p.errs = append(c.p.errs, "PermissionsBoundary is not supported by this kmsd version")
	}
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("roleName", in.RoleName)
	c.param("path", in.Path)
	c.param("assumeRolePolicyDocument", in.AssumeRolePolicyDocument)
	c.param("description", in.Description)
	c.param("maxSessionDuration", in.MaxSessionDuration)
	if len(in.Tags) > 0 {
		c.param("tags", auditTags(in.Tags))
	}
	path := in.Path
	if path == "" {
		path = "/"
	}
	if err := h.authorize(ctx, c, "arn:aws:iam::"+c.caller.AccountID+":role"+path+in.RoleName); err != nil {
		return nil, err
	}
	r, err := h.ids.CreateRole(c.answering(ctx, func(made any) map[string]any {
		r := made.(*identity.Role)
		return map[string]any{"role": map[string]any{
			"path": r.Path, "roleName": r.RoleName, "roleId": r.RoleID, "arn": r.ARN(), "createDate": xmlTime(r.Created),
			"assumeRolePolicyDocument": urlEncode(r.AssumeRolePolicyDocument), "maxSessionDuration": r.MaxSessionDuration,
		}}
	}), c.caller.AccountID, in)
	if err != nil {
		return nil, err
	}
	return roleResult{Role: toXMLRole(r, true)}, nil
}

func getRole(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.roleName()
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("roleName", name)
	if err := h.authorize(ctx, c, roleARNFor(c.caller.AccountID, name)); err != nil {
		return nil, err
	}
	r, err := h.ids.GetRole(ctx, c.caller.AccountID, name)
	if err != nil {
		return nil, err
	}
	return roleResult{Role: toXMLRole(r, true)}, nil
}

func deleteRole(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.roleName()
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("roleName", name)
	if err := h.authorize(ctx, c, roleARNFor(c.caller.AccountID, name)); err != nil {
		return nil, err
	}
	return nil, h.ids.DeleteRole(ctx, c.caller.AccountID, name)
}

func listRoles(ctx context.Context, h *Handler, c *call) (any, error) {
	in := c.p.list(true)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("pathPrefix", in.PathPrefix)
	c.param("maxItems", in.MaxItems)
	if err := h.authorize(ctx, c, roleARNFor(c.caller.AccountID, "")); err != nil {
		return nil, err
	}
	page, err := h.ids.ListRoles(ctx, c.caller.AccountID, in)
	if err != nil {
		return nil, err
	}
	out := listRolesResult{IsTruncated: page.IsTruncated, Marker: page.Marker}
	out.Roles.Member = make([]xmlRole, 0, len(page.Items))
	for _, r := range page.Items {
		out.Roles.Member = append(out.Roles.Member, toXMLRole(r, false))
	}
	return out, nil
}

func updateAssumeRolePolicy(ctx context.Context, h *Handler, c *call) (any, error) {
	name := c.roleName()
	doc := c.document("PolicyDocument")
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("roleName", name)
	c.param("policyDocument", doc)
	if err := h.authorize(ctx, c, roleARNFor(c.caller.AccountID, name)); err != nil {
		return nil, err
	}
	return nil, h.ids.UpdateAssumeRolePolicy(ctx, c.caller.AccountID, name, doc)
}
