"""What the demo workspace is made of: its people, tag groups, the Chinese companies written
for it, names and titles for contacts, and the texts of its notes, deals and tasks."""
from dataclasses import dataclass

DEMO_PASSWORD = "demo-pass-2024"


# --- people ----------------------------------------------------------------------------

@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    language: str
    timezone: str
    speaks: str  # "zh", "en" or "both": which customers they are given


DEMO_USERS = [
    DemoUser("admin@demo.local", "王芳", "admin", "zh_CN", "Asia/Shanghai", "both"),
    DemoUser("manager@demo.local", "李明", "manager", "zh_CN", "Asia/Shanghai", "both"),
    DemoUser("zhang.wei@demo.local", "张伟", "sales", "zh_CN", "Asia/Shanghai", "zh"),
    DemoUser("chen.jing@demo.local", "陈静", "sales", "zh_CN", "Asia/Shanghai", "both"),
    DemoUser("emily.carter@demo.local", "Emily Carter", "sales", "en", "America/New_York", "en"),
    DemoUser("james.wong@demo.local", "James Wong", "sales", "en", "Asia/Hong_Kong", "en"),
]

# --- tags ------------------------------------------------------------------------------

TAG_GROUPS = [
    # name, multiple, [(key, tag name, colour)]
    ("行业 Industry", False, [
        ("tech", "科技 Technology", "#2563eb"), ("software", "软件 Software", "#4f46e5"),
        ("manufacturing", "制造 Manufacturing", "#64748b"), ("health", "医疗 Healthcare", "#0d9488"),
        ("retail", "零售 Retail", "#ea580c"), ("finance", "金融 Finance", "#ca8a04"),
        ("logistics", "物流 Logistics", "#78716c"), ("education", "教育 Education", "#7c3aed"),
        ("telecom", "电信 Telecom", "#0891b2"), ("media", "传媒 Media", "#db2777"),
        ("services", "服务 Services", "#16a34a"), ("energy", "能源 Energy", "#65a30d"),
    ]),
    ("预算 Budget", False, [
        ("budget_ample", "预算充足 Ample", "#15803d"), ("budget_moderate", "预算一般 Moderate", "#ca8a04"),
        ("budget_tight", "预算紧张 Tight", "#dc2626"), ("budget_unknown", "预算未知 Unknown", "#94a3b8"),
    ]),
    ("客户等级 Value tier", False, [
        ("tier_key", "重要 Key account", "#b91c1c"), ("tier_high", "高价值 High value", "#d97706"),
        ("tier_ordinary", "普通 Ordinary", "#64748b"),
    ]),
    ("行为 Behaviour", True, [
        ("downloaded", "下载资料 Downloaded brochure", "#0284c7"),
        ("demo", "参加演示 Attended demo", "#7c3aed"),
        ("asked_price", "询价 Asked price", "#f59e0b"),
        ("visited_booth", "展会到访 Visited booth", "#0d9488"),
        ("newsletter", "订阅资讯 Newsletter", "#94a3b8"),
        ("trial", "试用中 On trial", "#16a34a"),
    ]),
]

# --- Chinese customers (written for the demo) -------------------------------------------

# name, short name, web domain, province/region, city, industry, industry tag, size, source
CHINESE_COMPANIES = [
    ("北京星辰科技有限公司", "星辰科技", "xingchen-tech.cn", "北京", "北京", "软件", "software", "51-200", "官网"),
    ("上海汇通物流有限公司", "汇通物流", "huitong56.com", "上海", "上海", "物流", "logistics", "201-1000", "转介绍"),
    ("深圳云帆智能科技有限公司", "云帆智能", "yunfan-ai.cn", "广东", "深圳", "科技", "tech", "51-200", "展会"),
    ("杭州绿源生物医药有限公司", "绿源生物", "lvyuan-bio.com", "浙江", "杭州", "医药", "health", "201-1000", "百度推广"),
    ("广州华美零售连锁有限公司", "华美零售", "huamei-retail.cn", "广东", "广州", "零售", "retail", "1000+", "电话营销"),
    ("成都天府软件股份有限公司", "天府软件", "tianfu-soft.com", "四川", "成都", "软件", "software", "201-1000", "官网"),
    ("南京金陵精密制造有限公司", "金陵精密", "jinling-precision.cn", "江苏", "南京", "制造业", "manufacturing", "201-1000", "展会"),
    ("武汉长江新能源科技有限公司", "长江新能源", "cj-newenergy.cn", "湖北", "武汉", "新能源", "energy", "51-200", "转介绍"),
    ("苏州博远电子有限公司", "博远电子", "boyuan-elec.com", "江苏", "苏州", "电子制造", "manufacturing", "1000+", "展会"),
    ("西安秦川教育科技有限公司", "秦川教育", "qinchuan-edu.cn", "陕西", "西安", "教育", "education", "11-50", "微信"),
    ("天津海河金融服务有限公司", "海河金融", "haihe-fin.com", "天津", "天津", "金融", "finance", "51-200", "转介绍"),
    ("重庆山城餐饮管理有限公司", "山城餐饮", "shancheng-food.cn", "重庆", "重庆", "餐饮", "services", "201-1000", "微信"),
    ("青岛海韵食品有限公司", "海韵食品", "haiyun-food.com", "山东", "青岛", "食品", "manufacturing", "201-1000", "百度推广"),
    ("厦门鹭岛国际贸易有限公司", "鹭岛贸易", "ludao-trade.com", "福建", "厦门", "贸易", "retail", "11-50", "官网"),
    ("长沙湘江传媒有限公司", "湘江传媒", "xiangjiang-media.cn", "湖南", "长沙", "传媒", "media", "51-200", "电话营销"),
    ("郑州中原建设工程有限公司", "中原建设", "zhongyuan-build.cn", "河南", "郑州", "建筑", "services", "1000+", "转介绍"),
    ("合肥智联信息技术有限公司", "智联信息", "zhilian-it.cn", "安徽", "合肥", "信息技术", "tech", "51-200", "官网"),
    ("宁波港城汽车零部件有限公司", "港城汽配", "gangcheng-auto.com", "浙江", "宁波", "汽车零部件", "manufacturing", "201-1000", "展会"),
    ("大连蓝海船舶设备有限公司", "蓝海船舶", "lanhai-marine.cn", "辽宁", "大连", "船舶设备", "manufacturing", "201-1000", "电话营销"),
    ("沈阳盛京机械有限公司", "盛京机械", "shengjing-mach.cn", "辽宁", "沈阳", "机械", "manufacturing", "1000+", "展会"),
    ("昆明彩云旅游文化有限公司", "彩云旅游", "caiyun-travel.cn", "云南", "昆明", "旅游", "services", "11-50", "微信"),
    ("济南泉城医疗器械有限公司", "泉城医疗", "quancheng-med.com", "山东", "济南", "医疗器械", "health", "51-200", "百度推广"),
    ("福州闽江纺织有限公司", "闽江纺织", "minjiang-textile.cn", "福建", "福州", "纺织", "manufacturing", "201-1000", "电话营销"),
    ("东莞优品家居有限公司", "优品家居", "youpin-home.cn", "广东", "东莞", "家居零售", "retail", "51-200", "官网"),
    ("珠海横琴数字科技有限公司", "横琴数字", "hengqin-digital.cn", "广东", "珠海", "科技", "tech", "11-50", "展会"),
    ("无锡太湖环保科技有限公司", "太湖环保", "taihu-eco.cn", "江苏", "无锡", "环保", "energy", "51-200", "转介绍"),
    ("北京京华律师事务所", "京华律所", "jinghua-law.cn", "北京", "北京", "法律服务", "services", "51-200", "转介绍"),
    ("上海浦江人力资源服务有限公司", "浦江人力", "pujiang-hr.com", "上海", "上海", "人力资源", "services", "201-1000", "官网"),
    ("深圳鹏程通信技术有限公司", "鹏程通信", "pengcheng-tel.cn", "广东", "深圳", "通信", "telecom", "1000+", "展会"),
    ("杭州西子电子商务有限公司", "西子电商", "xizi-ecom.cn", "浙江", "杭州", "电子商务", "retail", "51-200", "百度推广"),
]
# A person can be a customer too.
CHINESE_INDIVIDUALS = [("周晓梅", "上海", "上海", "转介绍")]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
         "秀英", "霞", "平", "刚", "桂英", "晓东", "建华", "海燕", "志强", "雪梅", "子涵", "浩然", "思远", "雨桐"]
ZH_TITLES = ["总经理", "采购经理", "IT 总监", "销售总监", "运营经理", "财务总监", "技术负责人", "行政主管"]

EN_FIRST = ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "Daniel",
            "Sarah", "Thomas", "Karen", "Kevin", "Laura", "Brian", "Emma", "Olivia", "Noah", "Ana",
            "Lukas", "Priya", "Kenji", "Amara", "Sofia", "Marco"]
EN_LAST = ["Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
           "Moore", "Martin", "Lee", "Walker", "Hall", "Young", "King", "Wright", "Lopez", "Hill",
           "Nguyen", "Schmidt", "Rossi", "Tanaka", "Okafor", "Kowalski"]
EN_TITLES = ["CEO", "Head of Procurement", "IT Director", "VP Sales", "Operations Manager", "CFO",
             "CTO", "Office Manager"]

SECTOR_TAGS = {
    "technology": "tech", "software": "software", "medical": "health", "retail": "retail",
    "finance": "finance", "marketing": "media", "entertainment": "media",
    "telecommunications": "telecom", "employment": "services", "services": "services",
}
EN_SOURCES = ["Website", "Trade show", "Referral", "Cold call", "LinkedIn", "Partner"]


# --- texts -----------------------------------------------------------------------------

ZH_NOTES = {
    "call": ["电话沟通{contact}，确认了需求范围，对方希望下周收到正式报价。",
             "与{contact}通话：预算还在审批中，约定月底再跟进。",
             "{contact}来电询问实施周期，已解释标准方案约六周。"],
    "visit": ["上门拜访，和{contact}及技术团队演示了系统，对移动端审批很感兴趣。",
              "拜访{contact}，参观了仓库现场，记录了三个主要痛点。"],
    "email": ["给{contact}发送了产品资料和同行业案例，等待回复。",
              "邮件发送报价单 V2，{contact}回复会在内部评审后答复。"],
    "meeting": ["线上会议：{contact}带采购一起参加，讨论了私有化部署和实施计划。",
                "季度回顾会：{contact}对上线效果满意，提出增加 20 个账号。"],
    "note": ["客户内部正在做年度预算，决策人是{contact}，财务总监有否决权。",
             "竞争对手也在接触该客户，主打低价，我们强调本地化服务。"],
    "other": ["微信沟通：{contact}询问了私有化部署的价格和付款方式。",
              "在展会上再次见到{contact}，约了下月初的现场演示。"],
}
EN_NOTES = {
    "call": ["Call with {contact}: scope confirmed, they expect the formal quote next week.",
             "Spoke to {contact}; budget is still in approval, agreed to follow up at month end.",
             "{contact} called about the rollout timeline; explained the standard six-week plan."],
    "visit": ["On-site visit: demoed the system to {contact} and the IT team; mobile approvals landed well.",
              "Visited {contact} at their office and noted three main pain points."],
    "email": ["Sent {contact} the brochure and two case studies from their industry.",
              "Emailed proposal v2; {contact} will answer after the internal review."],
    "meeting": ["Video meeting with {contact} and procurement about hosting and the rollout plan.",
                "Quarterly review: {contact} is happy with adoption and wants 20 more seats."],
    "note": ["Annual budgeting under way; {contact} decides, the CFO can veto.",
             "A competitor is pitching a lower price; we lead with support and integrations."],
    "other": ["LinkedIn message from {contact} asking about payment terms.",
              "Met {contact} again at the trade show; booked an on-site demo for next month."],
}
ZH_DEALS = ["CRM 系统采购", "年度订阅续约", "销售团队培训", "数据平台二期", "私有化部署项目",
            "移动端定制开发", "客服中心升级", "经销商门户建设"]
EN_DEALS = ["CRM rollout", "Annual subscription renewal", "Sales team training", "Data platform phase 2",
            "Private cloud deployment", "Mobile app customisation", "Support centre upgrade",
            "Partner portal"]
ZH_NEEDS = ["销售过程可视化，手机端随时跟进客户。", "与现有 ERP 对接，统一客户数据。",
            "管理层需要每周的销售漏斗报表。", "数据必须私有化部署在本地机房。"]
EN_NEEDS = ["Pipeline visibility and follow-ups from a phone.", "Integrate with their ERP for one customer record.",
            "Weekly funnel reports for management.", "Data must stay in their own data centre."]
ZH_COMPETITORS = ["云客 CRM", "智销通", "销帮手", "本地软件外包商"]
EN_COMPETITORS = ["NorthStar CRM", "PipeRight", "DealFlow", "In-house build"]
ZH_LOST_NOTES = ["对方选择了报价更低的方案。", "项目预算被冻结，明年再议。", "决策人离职，项目暂停。"]
EN_LOST_NOTES = ["They went with a cheaper offer.", "Budget frozen until next year.",
                 "Their sponsor left; the project is on hold."]
ZH_TASKS = ["给{short}发送报价单", "电话回访{contact}", "准备{short}的演示环境", "跟进合同盖章",
            "确认{short}的付款计划", "约{contact}做需求调研"]
EN_TASKS = ["Send the quote to {short}", "Follow-up call with {contact}", "Prepare the demo for {short}",
            "Chase the signed contract", "Confirm the payment plan with {short}",
            "Book a discovery session with {contact}"]
