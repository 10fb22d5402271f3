// The zone of a running lab: what the klab-dns pod answers from, given the model and the
// Services with their current endpoints (readiness applied).
import type { ServiceModel } from "../model/services.js";
import type { ClusterModel } from "../model/types.js";
import type { ZoneInput } from "./zone.js";

export function clusterZoneInput(model: ClusterModel, services: ServiceModel[], serial: number): ZoneInput {
  return {
    clusterDomain: model.dns.clusterDomain,
    services,
    pods: model.pods.map((p) => ({ namespace: p.namespace, name: p.name, ip: p.ip, hostname: p.specHostname, subdomain: p.subdomain })),
    namespaces: model.namespaces,
    ttl: model.dns.ttl,
    reverseCIDRs: [model.serviceCIDR, model.podCIDR],
    nameserverIP: model.dns.serviceIP,
    serial,
  };
}
