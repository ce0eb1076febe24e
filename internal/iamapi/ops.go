package iamapi

import "github.com/kmsd/kmsd/internal/identity"

// operations are the actions served, by service.
var operations = map[string]map[string]operation{
	ServiceIAM: {
		"CreateUser":              {run: createUser},
		"GetUser":                 {run: getUser, readOnly: true},
		"DeleteUser":              {run: deleteUser},
		"ListUsers":               {run: listUsers, readOnly: true},
		"CreateAccessKey":         {run: createAccessKey},
		"DeleteAccessKey":         {run: deleteAccessKey},
		"UpdateAccessKey":         {run: updateAccessKey},
		"ListAccessKeys":          {run: listAccessKeys, readOnly: true},
		"PutUserPolicy":           {run: putPolicy(userOwner, (*identity.Store).PutUserPolicy)},
		"GetUserPolicy":           {run: getPolicy(userOwner), readOnly: true},
		"DeleteUserPolicy":        {run: deletePolicy(userOwner, (*identity.Store).DeleteUserPolicy)},
		"ListUserPolicies":        {run: listPolicies(userOwner, (*identity.Store).ListUserPolicies), readOnly: true},
		"CreateRole":              {run: createRole},
		"GetRole":                 {run: getRole, readOnly: true},
		"DeleteRole":              {run: deleteRole},
		"ListRoles":               {run: listRoles, readOnly: true},
		"PutRolePolicy":           {run: putPolicy(roleOwner, (*identity.Store).PutRolePolicy)},
		"GetRolePolicy":           {run: getPolicy(roleOwner), readOnly: true},
		"DeleteRolePolicy":        {run: deletePolicy(roleOwner, (*identity.Store).DeleteRolePolicy)},
		"ListRolePolicies":        {run: listPolicies(roleOwner, (*identity.Store).ListRolePolicies), readOnly: true},
		"UpdateAssumeRolePolicy":  {run: updateAssumeRolePolicy},
		"SimulatePrincipalPolicy": {run: simulatePrincipalPolicy, readOnly: true},
	},
	ServiceSTS: {
		"GetCallerIdentity": {run: getCallerIdentity, readOnly: true},
		"AssumeRole":        {run: assumeRole},
	},
}
