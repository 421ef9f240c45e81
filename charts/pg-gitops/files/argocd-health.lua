-- Argo CD health check for gitops.kubedb.com/Postgres objects reconciled by pg-gitops.
-- argocd-cm key: resource.customizations.health.gitops.kubedb.com_Postgres
--
-- It reads what pg-gitops writes, in the order kstatus (Flux's `wait`) reads it, so Argo CD
-- and Flux agree on a database:
--   no status yet, or the status of an older generation -> Progressing (not seen yet)
--   Stalled=True (a failed OpsRequest, a change KubeDB would refuse: needs a person)
--                                                       -> Degraded, with the reason given
--   Ready=False with reason Suspended                   -> Suspended
--   Reconciling=True (steps left, an OpsRequest in flight, waiting for a turn or for the
--   database, a database that matches Git but is not Ready yet) -> Progressing
--   Ready=True (matches Git, and KubeDB reports the database Ready) -> Healthy
--
-- Argo CD runs scripts from argocd-cm in gopher-lua (Lua 5.1) with only the base, table and a
-- safe os library: no string library, so only `..` joins text here.

local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

-- The message, else the reason: pg-gitops leaves out empty messages.
local function said(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c.reason ~= nil then
    return c.reason
  end
  return ""
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for pg-gitops to report a status"
  return hs
end

-- A status written for an older spec says nothing about this one (kstatus' generation check).
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for pg-gitops to observe generation " .. generation ..
    " (the status is of generation " .. observed .. ")"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = said(stalled)
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "False" and ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = said(ready)
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = said(reconciling)
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = said(ready)
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for pg-gitops to report a status"
if ready ~= nil then
  hs.message = said(ready)
end
return hs
