"""Amazon MQ: the mq API over real RabbitMQ and ActiveMQ broker processes."""
