package iamapi

import (
	"context"

	"github.com/kmsd/kmsd/internal/identity"
)

type getUserPolicyResult struct {
	UserName       string `xml:"UserName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type getRolePolicyResult struct {
	RoleName       string `xml:"RoleName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type listPoliciesResult struct {
	PolicyNames members[string] `xml:"PolicyNames"`
	IsTruncated bool            `xml:"IsTruncated"`
	Marker      string          `xml:"Marker,omitempty"`
}

// owner reads the user or role an inline policy action names.
type owner struct {
	param  string // "UserName" or "RoleName"
	max    int
	audit  string // "userName" or "roleName"
	arnFor func(account, name string) string
}

var (
	userOwner = owner{param: "UserName", max: 128, audit: "userName", arnFor: userARNFor}
	roleOwner = owner{param: "RoleName", max: 64, audit: "roleName", arnFor: roleARNFor}
)

func (o owner) read(c *call) string { return c.p.str(o.param, true, 1, o.max, patternName, validName) }

func (c *call) policyName() string {
	return c.p.str("PolicyName", true, 1, 128, patternName, validName)
}

func putPolicy(o owner, put func(s *identity.Store, ctx context.Context, account, owner, name, doc string) error) func(context.Context, *Handler, *call) (any, error) {
	return func(ctx context.Context, h *Handler, c *call) (any, error) {
		who, name, doc := o.read(c), c.policyName(), c.document("PolicyDocument")
		if err := c.p.err(); err != nil {
			return nil, err
		}
		c.param(o.audit, who)
		c.param("policyName", name)
		c.param("policyDocument", doc)
		if err := h.authorize(ctx, c, o.arnFor(c.caller.AccountID, who)); err != nil {
			return nil, err
		}
		return nil, put(h.ids, ctx, c.caller.AccountID, who, name, doc)
	}
}

func deletePolicy(o owner, del func(s *identity.Store, ctx context.Context, account, owner, name string) error) func(context.Context, *Handler, *call) (any, error) {
	return func(ctx context.Context, h *Handler, c *call) (any, error) {
		who, name := o.read(c), c.policyName()
		if err := c.p.err(); err != nil {
			return nil, err
		}
		c.param(o.audit, who)
		c.param("policyName", name)
		if err := h.authorize(ctx, c, o.arnFor(c.caller.AccountID, who)); err != nil {
			return nil, err
		}
		return nil, del(h.ids, ctx, c.caller.AccountID, who, name)
	}
}

func getPolicy(o owner) func(context.Context, *Handler, *call) (any, error) {
	return func(ctx context.Context, h *Handler, c *call) (any, error) {
		who, name := o.read(c), c.policyName()
		if err := c.p.err(); err != nil {
			return nil, err
		}
		c.param(o.audit, who)
		c.param("policyName", name)
		if err := h.authorize(ctx, c, o.arnFor(c.caller.AccountID, who)); err != nil {
			return nil, err
		}
		if o.param == "RoleName" {
			r, err := h.ids.GetRole(ctx, c.caller.AccountID, who)
			if err != nil {
				return nil, err
			}
			p, err := h.ids.GetRolePolicy(ctx, c.caller.AccountID, who, name)
			if err != nil {
				return nil, err
			}
			return getRolePolicyResult{RoleName: r.RoleName, PolicyName: p.Name, PolicyDocument: urlEncode(p.Document)}, nil
		}
		u, err := h.ids.GetUser(ctx, c.caller.AccountID, who)
		if err != nil {
			return nil, err
		}
		p, err := h.ids.GetUserPolicy(ctx, c.caller.AccountID, who, name)
		if err != nil {
			return nil, err
		}
		return getUserPolicyResult{UserName: u.UserName, PolicyName: p.Name, PolicyDocument: urlEncode(p.Document)}, nil
	}
}

func listPolicies(o owner, list func(s *identity.Store, ctx context.Context, account, owner string, in identity.ListInput) (identity.Page[string], error)) func(context.Context, *Handler, *call) (any, error) {
	return func(ctx context.Context, h *Handler, c *call) (any, error) {
		who := o.read(c)
		in := c.p.list(false)
		if err := c.p.err(); err != nil {
			return nil, err
		}
		c.param(o.audit, who)
		c.param("maxItems", in.MaxItems)
		if err := h.authorize(ctx, c, o.arnFor(c.caller.AccountID, who)); err != nil {
			return nil, err
		}
		page, err := list(h.ids, ctx, c.caller.AccountID, who, in)
		if err != nil {
			return nil, err
		}
		return listPoliciesResult{PolicyNames: members[string]{Member: page.Items}, IsTruncated: page.IsTruncated, Marker: page.Marker}, nil
	}
}
